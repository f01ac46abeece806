"""``python -m zsl_desktop`` (also what torchrun runs)."""

import sys

from zsl_desktop.cli import main

if __name__ == "__main__":  # the processes that draw the built-in birds import this module too
    sys.exit(main())
