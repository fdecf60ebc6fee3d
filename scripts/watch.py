#!/usr/bin/env python3
"""Follow a deploy of the app from a workstation, step by step, until its stacks are done.

    .venv/bin/python scripts/watch.py   # beside `cdk deploy`, in a second terminal

The tool lives in workstation/watch.py and the watch_*.py modules beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, Python puts scripts/ on the import path, not the project root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.watch import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(main())
