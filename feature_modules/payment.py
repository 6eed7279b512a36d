"""The payment feature module of fdag's demo, under its repository path: `from feature_modules import payment`.

The definitions live once, in `fdag/demo/payment.py`, so that `pip install fdag && fdag demo` ships them; this module
is that same module object (its nodes, versions and Redis layouts are the demo's), not a copy.
"""

import sys

from fdag.demo import payment

sys.modules[__name__] = payment
