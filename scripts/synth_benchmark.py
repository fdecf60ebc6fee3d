#!/usr/bin/env python3
"""Times the full `cdk synth` (every stack, cdk-nag on) against an empty app's.

The empty app (one empty stack) is the floor the jsii runtime sets for any CDK app in Python;
the two are run alternately so that both see the same machine, and medians are compared.
Run through `scripts/dev.sh bench-synth [runs]`, which sets the environment the CLI needs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EMPTY_APP = "import aws_cdk as cdk; app = cdk.App(); cdk.Stack(app, 'Empty'); app.synth()"
TARGET_RATIO = 1.5


def _timed_synth(app_command: str | None, outdir: str) -> float:
    command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir]
    if app_command:
        # cdk.json makes CloudFormation's own rules fail a synth, and a stack without resources
        # breaks one of them: the empty app runs with that one flag off, all else alike.
        command += ["--app", app_command, "-c", "@aws-cdk/core:validateAgainstDefaultRules=false"]
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="?", type=int, default=5, help="runs of each synth (default 5)")
    args = parser.parse_args()
    python = sys.executable
    full: list[float] = []
    empty: list[float] = []
    with tempfile.TemporaryDirectory() as outdir:
        for run in range(1, args.runs + 1):
            full.append(_timed_synth(None, f"{outdir}/full"))
            empty.append(_timed_synth(f'{python} -c "{EMPTY_APP}"', f"{outdir}/empty"))
            print(f"run {run}/{args.runs}: full {full[-1]:.2f} s, empty app {empty[-1]:.2f} s", file=sys.stderr)
    ratio = statistics.median(full) / statistics.median(empty)
    print(
        json.dumps(
            {
                "runs": args.runs,
                "full_synth_median_s": round(statistics.median(full), 2),
                "empty_app_median_s": round(statistics.median(empty), 2),
                "ratio": round(ratio, 2),
                "target_ratio": TARGET_RATIO,
            }
        )
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
