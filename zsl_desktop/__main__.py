"""``python -m zsl_desktop`` (also what torchrun runs)."""

import sys

from zsl_desktop.cli import main

sys.exit(main())
