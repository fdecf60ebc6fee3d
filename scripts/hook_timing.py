#!/usr/bin/env python3
"""How long the rendered on-start hook takes to return, against SageMaker's 300-second limit.

Runs the hook in the test sandbox (tests/scripts/sandbox.py: stand-in docker, aws, systemctl, ...,
so it measures the scripts, not AWS) on a fresh instance each time, and prints the median.
The artifact job the hook launches is killed with its boot. Needs root, like the sandbox.

    .venv/bin/python scripts/hook_timing.py [--runs N] [--profile NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inf2_llm.lifecycle import render_on_start
from tests.scripts.examples import PROFILES, hook_settings
from tests.scripts.sandbox import NotebookInstance

SAGEMAKER_LIMIT_SECONDS = 300
TARGET_SECONDS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--profile", choices=list(PROFILES), default="bllossom-8b")
    args = parser.parse_args()
    hook = render_on_start(hook_settings(args.profile))
    seconds = []
    with tempfile.TemporaryDirectory(prefix="hook-timing-") as scratch:
        for run in range(args.runs):
            instance = NotebookInstance(Path(scratch) / f"instance-{run}")
            with instance.boot() as boot:
                result = boot.run_hook(hook, timeout=SAGEMAKER_LIMIT_SECONDS)
            if result.returncode != 0:
                print(f"run {run + 1}: the hook failed:\n{result.stderr}", file=sys.stderr)
                return 1
            seconds.append(result.seconds)
    median = statistics.median(seconds)
    print(
        f"on-start hook ({args.profile}), {args.runs} runs: median {median:.2f}s, max {max(seconds):.2f}s "
        f"(target <= {TARGET_SECONDS}s; SageMaker stops a hook at {SAGEMAKER_LIMIT_SECONDS}s)"
    )
    return 0 if median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
