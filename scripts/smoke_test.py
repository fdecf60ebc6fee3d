#!/usr/bin/env python3
"""Smoke-test a deployed endpoint from a workstation, with the Lambda's own checks.

    .venv/bin/python scripts/smoke_test.py --stack-name Inf2Llm-dev-Serving   # or --endpoint-name NAME

The tool lives in workstation/smoke_test.py; the pipeline's smoke step runs it with boto3 alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, Python puts scripts/ on the import path, not the project root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.smoke_test import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(main())
