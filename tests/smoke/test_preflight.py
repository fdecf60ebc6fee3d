"""scripts/preflight.py: each thing an account can lack is a ✗ with what to do, and nothing else is.

CloudFormation, SSM, Secrets Manager and STS are the moto server's. Moto has no ListServiceQuotas,
no ListAWSDefaultServiceQuotas for SageMaker or Lambda, no Lambda GetAccountSettings and no
CodeConnections: those clients answer through botocore's Stubber, which checks every request
against the service's model and each expected parameter, as AWS would receive it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID

from inf2_llm.config import AppConfig, load_config
from inf2_llm.runtimes import RUNTIMES
from tests.smoke.moto_fakes import REGION, run_script
from workstation import preflight
from workstation.assembly import ASSEMBLY_DIRECTORY, AppNeeds, SynthesisFailed, read_needs
from workstation.preflight import AwsClients, Check, run_checks
from workstation.quotas import sagemaker_needs

NOTEBOOK_QUOTA = "ml.inf2.xlarge for notebook instance usage"
ENDPOINT_QUOTA = "ml.inf2.xlarge for endpoint usage"
# Codes as Service Quotas would return them; the tool must take them from the listing.
QUOTA_CODES = {NOTEBOOK_QUOTA: "L-0A1B2C3D", ENDPOINT_QUOTA: "L-4E5F6A7B", "Concurrent executions": "L-B99A9384"}
CONNECTION_ARN = (
    f"arn:aws:codeconnections:{REGION}:{DEFAULT_ACCOUNT_ID}:connection/0123abcd-0123-4567-89ab-0123456789ab"
)
PIPELINE = {
    "pipeline": "true",
    "account": DEFAULT_ACCOUNT_ID,
    "region": REGION,
    "connection_arn": CONNECTION_ARN,
    "repository": "example-org/inf2-llm-cdk",
}
SECRET = "inf2-llm/hf-token"


@pytest.fixture
def needs() -> AppNeeds:
    """What the checks compare the account with, as the default configuration's synth gives them
    (test_cli_run_against_an_empty_account reads them from a real synth)."""
    return AppNeeds(
        bootstrap_version=6, bootstrap_version_parameter="/cdk-bootstrap/hnb659fds/version", lambda_executions=6
    )


def listing(*quotas: tuple[str, float], service_code: str = "sagemaker") -> dict[str, Any]:
    return {
        "Quotas": [
            {"ServiceCode": service_code, "QuotaName": name, "QuotaCode": QUOTA_CODES[name], "Value": value}
            for name, value in quotas
        ]
    }


@dataclass
class Account:
    """An account, healthy unless a test says otherwise, behind one set of clients."""

    region: str = REGION
    applied_quotas: dict[str, Any] = field(default_factory=lambda: listing((NOTEBOOK_QUOTA, 2), (ENDPOINT_QUOTA, 4)))
    default_quotas: dict[str, Any] | None = None  # listed only when an applied value is missing
    lambda_limit: tuple[int, int] = (10, 10)  # (ConcurrentExecutions, UnreservedConcurrentExecutions)
    lambda_quotas: dict[str, Any] | None = None  # listed only when concurrency is short
    quota_listing_denied: str | None = None  # the refusal's message, given to each SageMaker quota's listing
    bootstrap_output: str | None = "default"  # "default": the version the app requires
    bootstrap_parameter: str | None = "default"
    secret: str | None = SECRET
    connection_status: str | None = None  # asked only with the pipeline
    stubbers: list[Stubber] = field(default_factory=list)

    def clients(self, needs: AppNeeds) -> AwsClients:
        clients = AwsClients(boto3.Session(region_name=self.region))
        self._create_bootstrap_stack(clients, needs)
        if self.secret:
            clients("secretsmanager").create_secret(Name=self.secret, SecretString="hf_token")
        quotas = self._stub(clients("service-quotas"))
        if self.quota_listing_denied:
            for _ in sagemaker_needs(config()):  # a refusal is not remembered as an empty listing: each asks
                quotas.add_client_error("list_service_quotas", "AccessDeniedException", self.quota_listing_denied, 400)
        else:
            quotas.add_response("list_service_quotas", self.applied_quotas, {"ServiceCode": "sagemaker"})
        if self.default_quotas is not None:
            quotas.add_response("list_aws_default_service_quotas", self.default_quotas, {"ServiceCode": "sagemaker"})
        total, unreserved = self.lambda_limit
        limit = {"ConcurrentExecutions": total, "UnreservedConcurrentExecutions": unreserved}
        self._stub(clients("lambda")).add_response("get_account_settings", {"AccountLimit": limit}, {})
        if self.lambda_quotas is not None:
            quotas.add_response("list_service_quotas", self.lambda_quotas, {"ServiceCode": "lambda"})
        if self.connection_status:
            connection = {
                "ConnectionName": "github",
                "ConnectionArn": CONNECTION_ARN,
                "ConnectionStatus": self.connection_status,
            }
            self._stub(clients("codeconnections", REGION)).add_response(
                "get_connection", {"Connection": connection}, {"ConnectionArn": CONNECTION_ARN}
            )
        return clients

    def _stub(self, client: Any) -> Stubber:
        stubber = Stubber(client)
        stubber.activate()
        self.stubbers.append(stubber)
        return stubber

    def _create_bootstrap_stack(self, clients: AwsClients, needs: AppNeeds) -> None:
        """A CDKToolkit stack shaped like `cdk bootstrap`'s: the version parameter and output."""
        if self.bootstrap_output is None and self.bootstrap_parameter is None:
            return
        required = str(needs.bootstrap_version)
        resources: dict[str, Any] = {"Topic": {"Type": "AWS::SNS::Topic"}}
        if self.bootstrap_parameter is not None:
            value = required if self.bootstrap_parameter == "default" else self.bootstrap_parameter
            properties = {"Name": needs.bootstrap_version_parameter, "Type": "String", "Value": value}
            resources["CdkBootstrapVersion"] = {"Type": "AWS::SSM::Parameter", "Properties": properties}
        template: dict[str, Any] = {"Resources": resources}
        if self.bootstrap_output is not None:
            value = required if self.bootstrap_output == "default" else self.bootstrap_output
            template["Outputs"] = {"BootstrapVersion": {"Value": value}}
        clients("cloudformation").create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(template))

    def verify(self) -> None:
        """Every scripted answer was asked for: no listing or lookup was skipped."""
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()


def config(**overrides: str) -> AppConfig:
    return load_config(dict(overrides))


def check(checks: list[Check], label: str) -> Check:
    (found,) = [check for check in checks if check.label == label]
    return found


def run(account: Account, needs: AppNeeds, /, **overrides: str) -> list[Check]:
    checks = run_checks(config(**overrides), account.clients(needs), needs)
    account.verify()
    return checks


def failures(checks: list[Check]) -> list[str]:
    return [check.label for check in checks if not check.ok]


def test_healthy_account_passes_every_check_and_exits_zero(needs: AppNeeds, capsys: pytest.CaptureFixture[str]) -> None:
    """The all-✓ case through the command line, with a pipeline and a token secret so that every
    check runs: a user who sees exit 0 can deploy without hitting any of these walls."""
    account = Account(connection_status="AVAILABLE")
    clients = account.clients(needs)
    arguments = [
        part for key, value in {**PIPELINE, "hf_token_secret_name": SECRET}.items() for part in ("-c", f"{key}={value}")
    ]

    regions: list[str | None] = []

    def connect(region: str | None) -> AwsClients:
        regions.append(region)
        return clients

    status = preflight.main(arguments, connect=connect, synthesize=lambda context: needs)

    account.verify()
    assert regions == [REGION]  # the configuration's region, over the AWS configuration's
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].split() == ["check", "found", "fix"]
    rows = lines[1:]
    assert len(rows) == 8 and all(row.startswith("✓  ") for row in rows)
    labels = ["image in", "AWS account", f"quota: {NOTEBOOK_QUOTA}", f"quota: {ENDPOINT_QUOTA}", "Lambda concurrency"]
    labels += ["CDK bootstrap (CDKToolkit)", "Hugging Face token secret", "pipeline connection"]
    assert [row[3:].startswith(label) for row, label in zip(rows, labels, strict=True)] == [True] * 8
    # Aligned: every row's finding starts under the header's "found".
    start = lines[0].index("found")
    assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows)
    assert "2 (applied), 2 needed (dev 1, prod 1)" in rows[2]


def test_notebook_quota_at_its_default_zero_names_code_and_command(needs: AppNeeds) -> None:
    """A new account's first blocker: the inf2 quota is absent from the applied listing and 0 by
    default. The ✗ gives the code found by the quota's name and the exact increase request."""
    account = Account(
        applied_quotas=listing((ENDPOINT_QUOTA, 1)),
        default_quotas=listing((NOTEBOOK_QUOTA, 0), (ENDPOINT_QUOTA, 0)),
    )

    checks = run(account, needs)

    notebook = check(checks, f"quota: {NOTEBOOK_QUOTA}")
    assert failures(checks) == [notebook.label]
    assert notebook.found == "0 (AWS default), 1 needed"
    assert notebook.fix == (
        "aws service-quotas request-service-quota-increase --service-code sagemaker "
        f"--quota-code {QUOTA_CODES[NOTEBOOK_QUOTA]} --desired-value 1 --region {REGION}"
    )


def test_endpoint_quota_counts_the_autoscaling_ceiling(needs: AppNeeds) -> None:
    """With autoscaling the endpoint may grow to its ceiling; a quota that only covers the
    initial count fails the scale-out long after the deploy, so the need is the ceiling."""
    account = Account(applied_quotas=listing((NOTEBOOK_QUOTA, 1), (ENDPOINT_QUOTA, 2)))

    checks = run(account, needs, autoscaling="true", autoscaling_max_instances="3")

    endpoint = check(checks, f"quota: {ENDPOINT_QUOTA}")
    assert failures(checks) == [endpoint.label]
    assert endpoint.found == "2 (applied), 3 needed"
    assert endpoint.fix.endswith(f"--quota-code {QUOTA_CODES[ENDPOINT_QUOTA]} --desired-value 3 --region {REGION}")


def test_pipeline_needs_each_quota_once_per_stage(needs: AppNeeds) -> None:
    """The pipeline deploys dev and prod into one account and region: a quota enough for one stage
    lets dev deploy and then fails prod after the approval."""
    account = Account(applied_quotas=listing((NOTEBOOK_QUOTA, 1), (ENDPOINT_QUOTA, 3)), connection_status="AVAILABLE")

    checks = run(account, needs, **PIPELINE, endpoint_instance_count="2")

    notebook, endpoint = check(checks, f"quota: {NOTEBOOK_QUOTA}"), check(checks, f"quota: {ENDPOINT_QUOTA}")
    assert failures(checks) == [notebook.label, endpoint.label]
    assert (notebook.found, endpoint.found) == (
        "1 (applied), 2 needed (dev 1, prod 1)",
        "3 (applied), 4 needed (dev 2, prod 2)",
    )
    assert "--desired-value 2 " in notebook.fix and "--desired-value 4 " in endpoint.fix


def test_lambda_concurrency_below_what_a_stack_runs(needs: AppNeeds) -> None:
    """The deploy's custom resources and smoke test share the unreserved pool; with less of it than
    one stack runs at once, they are throttled mid-deploy."""
    short = needs.lambda_executions - 1
    account = Account(
        lambda_limit=(short, short), lambda_quotas=listing(("Concurrent executions", short), service_code="lambda")
    )

    checks = run(account, needs)

    concurrency = check(checks, "Lambda concurrency")
    assert failures(checks) == ["Lambda concurrency"]
    assert concurrency.found == f"{short} of {short} unreserved, {needs.lambda_executions} needed"
    assert concurrency.fix == (
        "aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 "
        f"--desired-value {needs.lambda_executions} --region {REGION}"
    )


def test_region_from_the_aws_configuration_without_the_image(needs: AppNeeds) -> None:
    """load_config refuses a configured region without the runtime's image, but with none
    configured the deploy goes to the AWS configuration's region, which only preflight can check."""
    release = RUNTIMES["vllm-0.4"].release
    region = next(r for r in boto3.Session().get_available_regions("sagemaker") if r not in release.registry_accounts)
    account = Account(region=region)

    checks = run(account, needs, runtime="vllm-0.4", model_source="compile")

    assert failures(checks) == [f"image in {region}"]
    assert checks[0].found == f"{release.repository} (vllm-0.4) is not published there"
    assert checks[0].fix.endswith(", ".join(release.regions))


def test_account_never_bootstrapped(needs: AppNeeds) -> None:
    """Without CDKToolkit the deploy stops at once; the fix bootstraps this account and region."""
    checks = run(Account(bootstrap_output=None, bootstrap_parameter=None), needs)

    bootstrap = check(checks, "CDK bootstrap (CDKToolkit)")
    assert failures(checks) == [bootstrap.label]
    assert bootstrap.found == f"no CDKToolkit stack in {REGION}"
    assert bootstrap.fix == f"npx cdk bootstrap aws://{DEFAULT_ACCOUNT_ID}/{REGION}"


def test_bootstrap_older_than_the_templates_require(needs: AppNeeds) -> None:
    """Every template's CheckBootstrapVersion rule fails the deploy below the required version."""
    old = str(needs.bootstrap_version - 1)

    checks = run(Account(bootstrap_output=old, bootstrap_parameter=old), needs)

    bootstrap = check(checks, "CDK bootstrap (CDKToolkit)")
    assert failures(checks) == [bootstrap.label]
    assert bootstrap.found == f"version {old}, {needs.bootstrap_version} required by the templates"
    assert bootstrap.fix == f"npx cdk bootstrap aws://{DEFAULT_ACCOUNT_ID}/{REGION}"


def test_bootstrap_version_read_from_the_parameter_the_rule_reads(needs: AppNeeds) -> None:
    """A bootstrap stack without the output still has the SSM parameter the templates' rule reads:
    its version decides."""
    old = str(needs.bootstrap_version - 1)

    checks = run(Account(bootstrap_output=None, bootstrap_parameter=old), needs)

    assert failures(checks) == ["CDK bootstrap (CDKToolkit)"]
    assert check(checks, "CDK bootstrap (CDKToolkit)").found.startswith(f"version {old},")


def test_named_token_secret_missing(needs: AppNeeds) -> None:
    """The notebook reads the token at run time: a missing secret fails the artifact job an hour in."""
    checks = run(Account(secret=None), needs, hf_token_secret_name=SECRET)

    secret = check(checks, "Hugging Face token secret")
    assert failures(checks) == [secret.label]
    assert secret.found == f"no secret {SECRET} in {REGION}"
    assert secret.fix == f"aws secretsmanager create-secret --name {SECRET} --secret-string <token> --region {REGION}"


def test_token_secret_scheduled_for_deletion(needs: AppNeeds) -> None:
    """A secret pending deletion still describes, but its value can no longer be read."""
    account = Account()
    clients = account.clients(needs)
    clients("secretsmanager").delete_secret(SecretId=SECRET, RecoveryWindowInDays=7)

    checks = run_checks(config(hf_token_secret_name=SECRET), clients, needs)

    secret = check(checks, "Hugging Face token secret")
    assert failures(checks) == [secret.label]
    assert secret.fix == f"aws secretsmanager restore-secret --secret-id {SECRET} --region {REGION}"


def test_pipeline_connection_still_pending(needs: AppNeeds) -> None:
    """A connection created outside the console stays PENDING until its handshake is completed
    there; the pipeline's source action fails on it."""
    account = Account(applied_quotas=listing((NOTEBOOK_QUOTA, 2), (ENDPOINT_QUOTA, 2)), connection_status="PENDING")

    checks = run(account, needs, **PIPELINE)

    connection = check(checks, "pipeline connection")
    assert failures(checks) == [connection.label]
    assert connection.found == "github is PENDING"
    assert "Update pending connection" in connection.fix


def test_denied_call_is_a_row_with_what_to_do(needs: AppNeeds) -> None:
    """A user without servicequotas:ListServiceQuotas gets the reason in the table, not a trace, and
    the checks that do not need it still run."""
    message = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: servicequotas:ListServiceQuotas"

    checks = run(Account(quota_listing_denied=message), needs)

    assert failures(checks) == [f"quota: {NOTEBOOK_QUOTA}", f"quota: {ENDPOINT_QUOTA}"]
    notebook = check(checks, f"quota: {NOTEBOOK_QUOTA}")
    assert notebook.found == f"ListServiceQuotas failed: AccessDeniedException: {message}"
    assert notebook.fix.startswith("allow this read-only call")


def test_credentials_of_another_account_stop_the_checks(needs: AppNeeds) -> None:
    """Checked with the wrong credentials, every other row would describe the wrong account."""
    checks = run_checks(config(account="111111111111"), AwsClients(boto3.Session(region_name=REGION)), needs)

    assert [check.label for check in checks] == [f"image in {REGION}", "AWS account"]
    assert failures(checks) == ["AWS account"]
    assert checks[1].fix.startswith("use credentials for 111111111111")


def test_no_region_anywhere(needs: AppNeeds, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the configuration nor the AWS configuration names a region: nothing can be checked."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    checks = run_checks(config(), AwsClients.for_region(None), needs)

    assert [(check.label, check.ok) for check in checks] == [("region", False)]


def test_cli_refuses_a_bad_configuration_in_one_line() -> None:
    """A bad -c option is the same one-line ConfigError as at synth, with exit 2 and no trace."""
    result = run_script("preflight.py", "-c", "endpoint_instance_count=0")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "invalid configuration: endpoint_instance_count='0': must be a whole number from 1 to 32"
    ]


def test_cli_stops_when_the_app_does_not_synthesize(capsys: pytest.CaptureFixture[str]) -> None:
    """A configuration cdk-nag or a construct refuses cannot be deployed whatever the account has:
    exit 2 with the synth's own reason, before any AWS call."""

    def synthesize(context: object) -> AppNeeds:
        raise SynthesisFailed("ValidationFailed: Validation failed.")

    def connect(region: str | None) -> AwsClients:
        raise AssertionError("no AWS call for an app that does not synthesize")

    status = preflight.main([], connect=connect, synthesize=synthesize)

    output = capsys.readouterr()
    assert status == 2 and output.out == ""
    assert output.err == "the app does not synthesize with these -c options: ValidationFailed: Validation failed.\n"


def test_cli_run_against_an_empty_account() -> None:
    """The script as a user runs it, synth included, against moto's empty account: it exits 1 with
    the bootstrap command, and the calls moto cannot answer are ✗ rows, not a trace. The version it
    requires is the one each synthesized template's CheckBootstrapVersion rule asserts (the rule
    lists the versions it refuses), read from the parameter the templates name."""
    result = run_script("preflight.py", timeout=180)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    rows = {line[3:].split("  ")[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows[f"image in {REGION}"].startswith("✓")
    assert rows[f"quota: {NOTEBOOK_QUOTA}"].startswith(f"✗  quota: {NOTEBOOK_QUOTA}  ListServiceQuotas failed")
    assert rows["CDK bootstrap (CDKToolkit)"].startswith("✗")
    assert rows["CDK bootstrap (CDKToolkit)"].endswith(f"npx cdk bootstrap aws://{DEFAULT_ACCOUNT_ID}/{REGION}")
    needs = read_needs(ASSEMBLY_DIRECTORY)
    templates = sorted(ASSEMBLY_DIRECTORY.glob("*.template.json"))
    assert len(templates) == 3
    for path in templates:
        template = json.loads(path.read_text())
        assertion = template["Rules"]["CheckBootstrapVersion"]["Assertions"][0]["Assert"]
        refused = assertion["Fn::Not"][0]["Fn::Contains"][0]
        assert needs.bootstrap_version == max(int(version) for version in refused) + 1, path.name
        assert template["Parameters"]["BootstrapVersion"]["Default"] == needs.bootstrap_version_parameter


def write_assembly(directory: Path, artifacts: dict[str, Any], templates: dict[str, list[str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    for name, types in templates.items():
        resources = {f"R{index}": {"Type": kind} for index, kind in enumerate(types)}
        (directory / name).write_text(json.dumps({"Resources": resources}))


def stack(template: str, version: int) -> dict[str, Any]:
    parameter = "/cdk-bootstrap/hnb659fds/version"
    return {
        "type": "aws:cloudformation:stack",
        "properties": {
            "templateFile": template,
            "requiresBootstrapStackVersion": version,
            "bootstrapStackVersionSsmParameter": parameter,
            "lookupRole": {
                "requiresBootstrapStackVersion": 8,  # as the default synthesizer writes it, above the stacks'
                "bootstrapStackVersionSsmParameter": parameter,
            },
        },
    }


def test_needs_are_read_from_every_stack_and_stage(tmp_path: Path) -> None:
    """A pipeline's stages are nested assemblies: their stacks count, each stack's custom resources
    and functions are what runs at once, and the lookup role's own version is not required."""
    write_assembly(
        tmp_path,
        {
            "Pipeline": stack("Pipeline.template.json", 6),
            "Dev": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "dev"}},
        },
        {"Pipeline.template.json": ["AWS::S3::Bucket"]},
    )
    write_assembly(
        tmp_path / "dev",
        {
            "Storage": stack("Storage.template.json", 6),
            "Serving": stack("Serving.template.json", 7),
            "Serving.assets": {"type": "cdk:asset-manifest", "properties": {"requiresBootstrapStackVersion": 6}},
        },
        {
            "Storage.template.json": [
                "AWS::Lambda::Function",
                "Custom::S3AutoDeleteObjects",
                "Custom::S3AutoDeleteObjects",
            ],
            "Serving.template.json": [
                "AWS::Lambda::Function",
                "AWS::Lambda::Function",
                "Custom::Trigger",
                "AWS::CloudFormation::CustomResource",
                "AWS::SNS::Topic",
            ],
        },
    )

    assert read_needs(tmp_path) == AppNeeds(7, "/cdk-bootstrap/hnb659fds/version", 4)
