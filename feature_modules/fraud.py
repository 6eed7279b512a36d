"""The fraud feature module of fdag's demo, under its repository path: `from feature_modules import fraud`.

The definitions live once, in `fdag/demo/fraud.py`, so that `pip install fdag && fdag demo` ships them; this module
is that same module object (its nodes, versions and Redis layouts are the demo's), not a copy.
"""

import sys

from fdag.demo import fraud

sys.modules[__name__] = fraud
