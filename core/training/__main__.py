"""``python -m core.training``: see core/training/cli.py."""

import sys

from core.training.cli import main

sys.exit(main())
