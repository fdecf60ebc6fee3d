"""Set-up for every test: the smoke-test Lambda's code directory on the import path.

Lambda runs handler.py with its code directory on the path, so handler.py imports endpoint_checks,
and endpoint_checks imports streaming, as top-level modules; the workstation scripts put the
directory on the path the same way. Tests that load these modules, in any subset, need it too.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda" / "smoke_test"))
