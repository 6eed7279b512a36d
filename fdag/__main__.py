"""``python -m fdag``: the fdag command line."""

import sys

from fdag.cli import main

sys.exit(main())
