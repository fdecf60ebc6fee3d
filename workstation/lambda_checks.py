"""The smoke-test Lambda's endpoint checks, for the workstation tools: the one place that imports them.

The checks live beside the Lambda's handler in lambda/smoke_test/, a folder the Lambda runtime puts on
the import path: there they are the top-level module `endpoint_checks`, and the sibling modules they
import are found the same way. "lambda" is a Python keyword, so that folder cannot be a package: this
module puts it on the import path as the Lambda runtime does, so the tools judge an endpoint with the
very code the deployed smoke test runs. Imported under its own name (not loaded again as a copy under
another), `endpoint_checks` stays one module in a process that also runs the handler (the tests), so
its exception classes are the handler's.

The other modules take the checks from here (`from workstation.lambda_checks import endpoint_checks`),
so no import depends on another having run first.
"""

from __future__ import annotations

import sys
from pathlib import Path

LAMBDA_SOURCE = Path(__file__).resolve().parents[1] / "lambda" / "smoke_test"
if str(LAMBDA_SOURCE) not in sys.path:
    # First, as in the Lambda runtime, where the function's own folder comes before anything installed.
    sys.path.insert(0, str(LAMBDA_SOURCE))

import endpoint_checks  # noqa: E402  (needs the path above)

__all__ = ["endpoint_checks"]
