"""`python -m devstack`: what `make run` starts (see devstack/stack.py)."""

import os
import sys

from devstack.stack import main

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
