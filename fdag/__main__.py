"""``python -m fdag``: the fdag command line."""

from fdag.cli import main

raise SystemExit(main())
