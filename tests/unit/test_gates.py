"""The quality gates every change must pass: cdk-nag, cfn-lint, checkov, shellcheck, ruff and mypy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.unit.conftest import (
    COMPILE,
    COMPILE_QWEN,
    HUB,
    MIRROR,
    PIPELINE,
    PROD,
    PROJECT_ROOT,
    SCALE_TO_ZERO,
    SCALE_TO_ZERO_VLLM,
    VLLM,
)

CONFIGURATIONS = {
    "hub": HUB,
    "mirror": MIRROR,
    "compile": COMPILE,
    "compile-qwen-vpc": COMPILE_QWEN,
    "vllm": VLLM,
    "scale-to-zero": SCALE_TO_ZERO,
    "scale-to-zero-vllm": SCALE_TO_ZERO_VLLM,
    "prod": PROD,
    "pipeline": PIPELINE,
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_cdk_nag_passes(synth, name: str) -> None:
    """Synthesis runs AwsSolutionsChecks as a validation plugin and fails on any finding not
    acknowledged; reaching the templates means every finding was fixed or acknowledged."""
    synthesized = synth(CONFIGURATIONS[name])
    assert synthesized.assembly.stacks


def test_cdk_nag_gate_fails_on_a_new_finding(tmp_path: Path) -> None:
    """The gate must be able to fail: a bucket without access logs or SSL stops the synth."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Careless")
    s3.Bucket(stack, "Unlogged")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="AwsSolutions-S1|AwsSolutions-S10"):
        app.synth()


def test_every_acknowledgment_has_a_reason(synth) -> None:
    """A suppression without a reason is a finding hidden, not a finding answered."""
    acknowledgments = {
        rule: reason
        for overrides in CONFIGURATIONS.values()
        for construct in synth(overrides).app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule, reason in entry.data.items()
    }
    assert len(acknowledgments) >= 5
    for rule, reason in acknowledgments.items():
        assert "AwsSolutions-" in rule, rule
        assert len(reason.split()) >= 12, (rule, reason)


def test_cfn_lint_is_clean(synth) -> None:
    """Every synthesized template passes cfn-lint with no error and no warning."""
    templates = [
        template
        for overrides in CONFIGURATIONS.values()
        for template in Path(synth(overrides).assembly.directory).rglob("*.template.json")
    ]
    # Three stacks per workstation configuration; the pipeline's own plus two stages of three.
    assert len(templates) == 3 * (len(CONFIGURATIONS) - 1) + 1 + 2 * 3
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *map(str, templates)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov(*directories: Path) -> dict[str, list[dict[str, Any]]]:
    """The failed and skipped checks of checkov's run, offline, over every CloudFormation template
    under `directories`; checkov prints one JSON report per directory, one after the other."""
    arguments = [argument for directory in directories for argument in ("-d", str(directory))]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "checkov"), "--framework", "cloudformation", "--skip-download"]
        + ["--compact", "-o", "json", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    decoder, text, position = json.JSONDecoder(), result.stdout, 0
    checks: dict[str, list[dict[str, Any]]] = {"failed_checks": [], "skipped_checks": [], "passed_checks": []}
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        report, position = decoder.raw_decode(text, position)
        for kind, found in checks.items():
            found.extend(report["results"].get(kind, []))
    assert checks["passed_checks"], result.stderr
    return checks


def test_checkov_finds_nothing_unacknowledged(synth) -> None:
    """Many security teams run checkov on CloudFormation before a deploy is allowed: every template
    the suite synthesizes (the pipeline's stages included) passes it, and each finding the project
    answers knowingly is skipped in the template itself, with its reason beside it."""
    results = _checkov(*(Path(synth(overrides).assembly.directory) for overrides in CONFIGURATIONS.values()))
    failed = [f"{check['check_id']} {check['resource']} ({check['file_path']})" for check in results["failed_checks"]]
    assert failed == []
    assert len(results["passed_checks"]) > 1000
    skipped = results["skipped_checks"]
    assert {check["check_id"] for check in skipped} >= {"CKV_AWS_18", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_370"}
    for check in skipped:
        comment = check["check_result"]["suppress_comment"]
        assert len(comment.split()) >= 12, (check["check_id"], check["resource"], comment)


def test_checkov_gate_fails_on_a_new_finding(tmp_path: Path) -> None:
    """The gate must be able to fail: an unencrypted log group is a finding, and only a skip with
    its id in the resource's own metadata silences it."""
    log_group = {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}}
    skip = {"checkov": {"skip": [{"id": "CKV_AWS_158", "comment": "why"}]}}
    (tmp_path / "careless.template.json").write_text(json.dumps({"Resources": {"Logs": log_group}}))
    (tmp_path / "acknowledged.template.json").write_text(
        json.dumps({"Resources": {"Logs": {**log_group, "Metadata": skip}}})
    )
    # One checkov run for both templates: most of a run is checkov starting.
    results = _checkov(tmp_path)
    failed = [(Path(check["file_path"]).name, check["check_id"]) for check in results["failed_checks"]]
    assert ("careless.template.json", "CKV_AWS_158") in failed
    assert [check for check in failed if check[0] == "acknowledged.template.json"] == []
    skipped = [(Path(check["file_path"]).name, check["check_id"]) for check in results["skipped_checks"]]
    assert skipped == [("acknowledged.template.json", "CKV_AWS_158")]


def _shell_scripts() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        PROJECT_ROOT / name
        for name in listed
        if name.endswith(".sh") or (PROJECT_ROOT / name).read_bytes()[:64].split(b"\n")[0].endswith((b"bash", b"/sh"))
    ]


def test_shellcheck_is_clean() -> None:
    """Every shell script of the project passes shellcheck; it runs as root on the notebook."""
    scripts = _shell_scripts()
    assert PROJECT_ROOT / ".ci" / "run" in scripts
    assert PROJECT_ROOT / "scripts" / "dev.sh" in scripts
    result = subprocess.run(
        ["shellcheck", "--external-sources", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command: list[str]) -> None:
    """Unused imports, undefined names, unsorted imports and unformatted code are caught before review."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), *command, str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """The app, the Lambda and the tools type-check strictly (mypy.ini): a wrong type in a
    construct's arguments otherwise shows up only as a jsii error at synth, or in production."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mypy")], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_function_reserves_concurrency(synth) -> None:
    """A reservation must leave at least 100 executions unreserved (Lambda PutFunctionConcurrency API
    reference, https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html) and a new
    account's quota is 10: any function that reserves concurrency fails the first deploy there, after
    the endpoint was created, and rolls the stack back."""
    functions = {
        f"{path.name}:{logical_id}": resource.get("Properties", {})
        for overrides in CONFIGURATIONS.values()
        for path in Path(synth(overrides).assembly.directory).rglob("*.template.json")
        for logical_id, resource in json.loads(path.read_text())["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert any("SmokeTestFunction" in name for name in functions)
    reserving = [name for name, properties in functions.items() if "ReservedConcurrentExecutions" in properties]
    assert reserving == []
