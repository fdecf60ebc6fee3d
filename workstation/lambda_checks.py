"""The smoke-test Lambda's modules, for the workstation tools and the tests: the one place that imports them.

The checks live beside the Lambda's handler in lambda/smoke_test/, a folder the Lambda runtime puts on
the import path: there each file is a top-level module (`smoke_run`, `invocation`, ...), and they import
each other by those names. "lambda" is a Python keyword, so that folder cannot be a package: this module
puts it on the import path as the Lambda runtime does, so the tools judge an endpoint with the very code
the deployed smoke test runs. Imported under their own names (not loaded again as copies under others),
the modules stay one each in a process that also runs the handler (the tests), so their exception
classes are the handler's.

The other modules take them from here (`from workstation.lambda_checks import invocation`), so no import
depends on another having run first.
"""

from __future__ import annotations

import sys
from pathlib import Path

LAMBDA_SOURCE = Path(__file__).resolve().parents[1] / "lambda" / "smoke_test"
if str(LAMBDA_SOURCE) not in sys.path:
    # First, as in the Lambda runtime, where the function's own folder comes before anything installed.
    sys.path.insert(0, str(LAMBDA_SOURCE))

# The modules the handler imports, one per concern (they need the path above); the tools need no handler.
import failures  # noqa: E402
import inference_apis  # noqa: E402
import invocation  # noqa: E402
import smoke_run  # noqa: E402
import smoke_settings  # noqa: E402
import streaming  # noqa: E402

__all__ = ["LAMBDA_SOURCE", "failures", "inference_apis", "invocation", "smoke_run", "smoke_settings", "streaming"]
