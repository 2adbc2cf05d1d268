"""``python -m core.pool``: see ``core/pool/cli.py``."""

import sys

from core.pool.cli import main

if __name__ == "__main__":
    sys.exit(main())
