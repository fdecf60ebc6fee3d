#!/usr/bin/env python3
"""Load an endpoint with concurrent requests for a fixed time and report speed.

    .venv/bin/python scripts/benchmark.py --stack-name Inf2Llm-dev-Serving --concurrency 4 --duration 60

The tool lives in workstation/benchmark.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, Python puts scripts/ on the import path, not the project root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.benchmark import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(main())
