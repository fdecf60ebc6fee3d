#!/usr/bin/env python3
"""Draws docs/benchmark-fake-server.png, the README's example chart: scripts/benchmark.py run against
the tests' offline fake SageMaker Runtime (tests/fakes), not against hardware.

    .venv/bin/python scripts/draw_fake_benchmark.py [--duration SECONDS]

The fake streams TGI's generate events on a schedule: the first token FIRST_TOKEN_S after the
request, then one every PER_TOKEN_S (the guide's 49 ms), TOKENS in all, at most STREAMS_AT_ONCE
answers at a time (the guide's compiled batch of 4; a further request waits for a place). The chart
shows what the benchmark measures of that schedule, level by level; the figures are the fake's, and
the chart says so under its title.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Run as a file, Python puts scripts/ on the import path, not the project root that holds the packages.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from tests.fakes.model_streams import tgi_generate  # noqa: E402  (needs the path above)
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime, Streamed, timed  # noqa: E402
from workstation import benchmark  # noqa: E402
from workstation.benchmark_charts import OVERVIEW  # noqa: E402

CHART = PROJECT_ROOT / "docs" / "benchmark-fake-server.png"
FIRST_TOKEN_S = 0.3
PER_TOKEN_S = 0.049
TOKENS = 64
STREAMS_AT_ONCE = 4
LEVELS = "1,2,4,8"
NOTE = (
    f"Offline fake SageMaker Runtime, not hardware: scripted {FIRST_TOKEN_S * 1000:.0f} ms to the first token, "
    f"{PER_TOKEN_S * 1000:.0f} ms per token, {TOKENS} tokens, {STREAMS_AT_ONCE} streams at a time"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level (default: 10)")
    arguments = parser.parse_args()
    with FakeSageMakerRuntime(streams_at_once=STREAMS_AT_ONCE) as runtime, tempfile.TemporaryDirectory() as output:
        runtime.answer(
            then=Streamed(timed(tgi_generate(["딥"] * TOKENS), first_token_s=FIRST_TOKEN_S, per_token_s=PER_TOKEN_S))
        )
        # The benchmark's client finds the fake as any SDK client finds a local endpoint; the
        # credentials are placeholders, which the fake does not check.
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime.url,
                "AWS_ACCESS_KEY_ID": "fake",
                "AWS_SECRET_ACCESS_KEY": "fake",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        status = benchmark.main(
            [
                *("--endpoint-name", "fake-endpoint", "--concurrency", LEVELS, "--duration", str(arguments.duration)),
                *("--max-new-tokens", str(TOKENS), "--output-dir", output, "--note", NOTE, "--quiet"),
            ]
        )
        if status == 0:
            CHART.parent.mkdir(exist_ok=True)
            shutil.copyfile(Path(output) / OVERVIEW, CHART)
            print(f"wrote {CHART.relative_to(PROJECT_ROOT)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
