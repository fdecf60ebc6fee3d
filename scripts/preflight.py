#!/usr/bin/env python3
"""What the AWS account lacks for a deploy, before anything is created.

    .venv/bin/python scripts/preflight.py -c key=value ...   # the same -c options as the deploy

The checks live in workstation/preflight.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, Python puts scripts/ on the import path, not the project root that holds app.py
# and the packages the tool imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.preflight import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(main())
