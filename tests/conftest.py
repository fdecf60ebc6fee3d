"""How the suite is shared between pytest-xdist workers (`scripts/dev.sh test` runs one more than the cores,
pytest.ini sets `--dist loadgroup`): each group below runs whole on one worker.

- The tests that run CDK in this process (they use the `synth` fixture of tests/unit/conftest.py,
  or their module imports aws_cdk) are one group. Each configuration is then synthesized once in
  the whole run, as without workers, and one worker alone pays for the first synthesis in a
  process, seconds of CPU while jsii's Node process loads the CDK libraries.
- Every other test is grouped with its module, so that a module-scoped fixture (the rehearsal's
  moto server and deploys, the CLI runs, the sandboxed boots) is set up once, on one worker.

The groups are handed out longest first (pytest.ini keeps xdist from reordering them), so that
no long group is left to start when the other workers are nearly done.
"""

from __future__ import annotations

from types import ModuleType

import pytest

CDK_GROUP = "cdk"
# The longest groups, longest first; the rehearsals (marked `integration`, one moto server and
# several deploys each) go before them all. Seconds of their tests on a busy 2-core machine: CDK
# ~90 (the gates ~55 of it), artifact job ~38 (mostly waiting on the kernel's namespaces), benchmark
# ~27 (timed levels against the fake runtime), CLI runs ~22, watch ~13 (polling moto).
LONGEST_GROUPS = (
    CDK_GROUP,
    "scripts/test_artifact_job",
    "smoke/test_benchmark_script",
    "unit/test_cli",
    "smoke/test_watch_script",
)


def _imports_cdk(module: ModuleType | None) -> bool:
    for value in vars(module).values() if module else ():
        origin = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(origin, str) and origin.split(".")[0] in ("aws_cdk", "cdk_nag"):
            return True
    return False


def _group(item: pytest.Item) -> str:
    if "synth" in getattr(item, "fixturenames", ()) or _imports_cdk(getattr(item, "module", None)):
        return CDK_GROUP
    return item.nodeid.split("::", 1)[0].removeprefix("tests/").removesuffix(".py")


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("integration"):
        return 0
    group = _group(item)
    return 1 + LONGEST_GROUPS.index(group) if group in LONGEST_GROUPS else 1 + len(LONGEST_GROUPS)


# Before xdist's own hook, which turns the marks into the groups it schedules by.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    # A stable sort: within a rank, tests keep the order they were collected in.
    items.sort(key=_rank)
