"""What the account lacks for a deploy of this configuration, found before anything is created.

    .venv/bin/python scripts/preflight.py [-c key=value ...]

Takes the same -c options as `cdk deploy`, builds the same validated configuration and synthesizes
the app, then checks, with read-only calls, the account and region the deploy goes to:

  - the region serves the runtime's container image;
  - the credentials are for the configured account;
  - the SageMaker instance quotas: a notebook instance, and the endpoint's instances (up to the
    autoscaling ceiling), once per stage (the pipeline deploys dev and prod there);
  - Lambda concurrency left unreserved for what one stack's deploy runs at once;
  - the CDK bootstrap stack (CDKToolkit), at the version the synthesized templates require;
  - the Hugging Face token secret, when one is named;
  - with the pipeline, that its CodeConnections connection is AVAILABLE.

Prints one row per check: ✓ or ✗, what was found and, for a ✗, what to do. Credentials, region and
endpoint URLs come from the standard AWS configuration (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, ...); the configuration's region, when set, wins.

Exit status: 0 every check holds; 1 a check failed; 2 bad usage, a bad configuration, or an app that
does not synthesize with it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from inf2_llm.config import AppConfig, ConfigError, load_config
from workstation.app_context import add_context_option, app_context
from workstation.assembly import AppNeeds, SynthesisFailed, synthesize_needs
from workstation.quotas import QuotaCatalog, QuotaNeed, increase_command, sagemaker_needs

# Read-only calls: a dead endpoint should fail a check in seconds; throttling is retried.
CLIENT_CONFIG = Config(connect_timeout=10, retries={"mode": "standard"})
# "The required resources are defined in a AWS CloudFormation stack, called the bootstrap stack,
# which is usually named CDKToolkit" (https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping.html).
BOOTSTRAP_STACK = "CDKToolkit"
BOOTSTRAP_VERSION_OUTPUT = "BootstrapVersion"
# Lambda's regional quota, as Service Quotas names it.
LAMBDA_CONCURRENCY_QUOTA = "Concurrent executions"
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
CREDENTIALS_REFUSED = {"InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException"}
MARKS = {True: "✓", False: "✗"}
MESSAGE_LENGTH = 160


@dataclass(frozen=True)
class Finding:
    ok: bool
    found: str
    fix: str = ""


@dataclass(frozen=True)
class Check:
    """One row of the table."""

    label: str
    ok: bool
    found: str
    fix: str


class AwsClients:
    """One client per service and region from one session, shared by the checks."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self.region: str | None = session.region_name
        self._clients: dict[tuple[str, str | None], Any] = {}

    @classmethod
    def for_region(cls, region: str | None) -> AwsClients:
        """Clients for the region given, or the AWS configuration's when it is None."""
        return cls(boto3.Session(region_name=region))

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1], config=CLIENT_CONFIG)
        return self._clients[key]

    @cached_property
    def identity(self) -> dict[str, Any]:
        return dict(self("sts").get_caller_identity())


def run_checks(config: AppConfig, clients: AwsClients, needs: AppNeeds) -> list[Check]:
    region = clients.region
    if region is None:
        fix = "pass -c region=<region>, or set AWS_REGION or a profile's region"
        return [Check("region", False, "none configured", fix)]
    checks = [
        _guarded(f"image in {region}", partial(_image_region, config, region)),
        _guarded("AWS account", partial(_account, config, clients)),
    ]
    if not checks[-1].ok:
        return checks  # every other check would ask the wrong account, or fail the same way
    catalog = QuotaCatalog(clients("service-quotas"))
    for need in sagemaker_needs(config):
        checks.append(_guarded(f"quota: {need.quota_name}", partial(_quota, catalog, need, region)))
    checks.append(_guarded("Lambda concurrency", partial(_lambda_concurrency, clients, catalog, needs, region)))
    checks.append(_guarded(f"CDK bootstrap ({BOOTSTRAP_STACK})", partial(_bootstrap, clients, needs, region)))
    if config.notebook.hf_token_secret_name:
        secret = partial(_secret, clients, config.notebook.hf_token_secret_name, region)
        checks.append(_guarded("Hugging Face token secret", secret))
    # The configuration requires a connection with the pipeline.
    if config.pipeline and config.pipeline.connection_arn:
        checks.append(_guarded("pipeline connection", partial(_connection, clients, config.pipeline.connection_arn)))
    return checks


def _guarded(label: str, check: Callable[[], Finding]) -> Check:
    """Runs one check; an AWS error becomes its ✗, saying what to do."""
    try:
        finding = check()
    except NoCredentialsError:
        finding = Finding(False, "no AWS credentials", "configure some: AWS_PROFILE=<profile>, aws sso login, ...")
    except ClientError as error:
        code = _error_code(error)
        message = _first_line(error.response.get("Error", {}).get("Message", ""))
        found = f"{error.operation_name} failed: {code}: {message}"
        if code in DENIED:
            finding = Finding(False, found, "allow this read-only call to these credentials (the message names it)")
        elif code in CREDENTIALS_REFUSED:
            finding = Finding(False, found, "refresh the credentials (aws sso login, new keys) and run again")
        else:
            finding = Finding(False, found, "run again; if it persists, check the region and AWS_ENDPOINT_URL")
    except BotoCoreError as error:
        finding = Finding(
            False, f"AWS unreachable: {_first_line(str(error))}", "check the network, region and endpoint"
        )
    return Check(label, finding.ok, finding.found, finding.fix)


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= MESSAGE_LENGTH else line[: MESSAGE_LENGTH - 1] + "…"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _image_region(config: AppConfig, region: str) -> Finding:
    """load_config refuses a configured region without the image; this checks the one the AWS
    configuration supplies when the configuration names none."""
    release = config.runtime.release
    image = f"{release.repository} ({config.runtime.name})"
    if region in release.registry_accounts:
        return Finding(True, image)
    fix = f"deploy to a region that has it: -c region=<region>, one of {', '.join(release.regions)}"
    return Finding(False, f"{image} is not published there", fix)


def _account(config: AppConfig, clients: AwsClients) -> Finding:
    account, arn = clients.identity["Account"], clients.identity["Arn"]
    if config.account and config.account != account:
        found = f"credentials of {account} ({arn}), but the configuration deploys to {config.account}"
        fix = f"use credentials for {config.account} (e.g. AWS_PROFILE=<its profile>)"
        return Finding(False, found, fix)
    return Finding(True, f"{account} ({arn})")


def _quota(catalog: QuotaCatalog, need: QuotaNeed, region: str) -> Finding:
    stages = f" ({', '.join(f'{stage} {count}' for stage, count in need.by_stage)})" if len(need.by_stage) > 1 else ""
    quota = catalog.find(need.service_code, need.quota_name)
    if quota is None:
        fix = "this instance type is not offered for this use here: choose another region or instance type"
        return Finding(False, f"no such quota in {region}", fix)
    found = f"{quota.value:g} ({'applied' if quota.applied else 'AWS default'}), {need.total} needed{stages}"
    if quota.value >= need.total:
        return Finding(True, found)
    return Finding(False, found, increase_command(need.service_code, quota.code, need.total, region))


def _lambda_concurrency(clients: AwsClients, catalog: QuotaCatalog, needs: AppNeeds, region: str) -> Finding:
    """The app's functions reserve no concurrency, so they share the unreserved pool: Lambda's
    AccountLimit.UnreservedConcurrentExecutions is "The maximum number of simultaneous function
    executions, minus the capacity that's reserved for individual functions with
    PutFunctionConcurrency" (https://docs.aws.amazon.com/lambda/latest/api/API_AccountLimit.html).
    The pool must hold what one stack's deploy can run at once; "New AWS accounts have reduced
    concurrency and memory quotas" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."""
    limit = clients("lambda").get_account_settings()["AccountLimit"]
    unreserved, total = limit["UnreservedConcurrentExecutions"], limit["ConcurrentExecutions"]
    needed = needs.lambda_executions
    found = f"{unreserved} of {total} unreserved, {needed} needed"
    if unreserved >= needed:
        return Finding(True, found)
    desired = total + needed - unreserved
    quota = catalog.find("lambda", LAMBDA_CONCURRENCY_QUOTA)
    fix = (
        increase_command("lambda", quota.code, desired, region)
        if quota
        else f"raise Lambda's '{LAMBDA_CONCURRENCY_QUOTA}' quota to {desired} in the Service Quotas console"
    )
    return Finding(False, found, fix)


def _bootstrap(clients: AwsClients, needs: AppNeeds, region: str) -> Finding:
    """Every synthesized template has a CheckBootstrapVersion rule that fails the deploy below the
    version the app requires; the bootstrap stack reports its version as an output and in the SSM
    parameter that rule reads (https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html)."""
    bootstrap = f"npx cdk bootstrap aws://{clients.identity['Account']}/{region}"
    try:
        stack = clients("cloudformation").describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"][0]
    except ClientError as error:
        if _error_code(error) != "ValidationError" or "does not exist" not in str(error):
            raise
        return Finding(False, f"no {BOOTSTRAP_STACK} stack in {region}", bootstrap)
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    version = outputs.get(BOOTSTRAP_VERSION_OUTPUT) or _parameter(clients, needs.bootstrap_version_parameter)
    if version is None:
        return Finding(False, f"{BOOTSTRAP_STACK} is {stack['StackStatus']}, with no version", bootstrap)
    found = f"version {version}, {needs.bootstrap_version} required by the templates"
    if int(version) < needs.bootstrap_version:
        return Finding(False, found, bootstrap)
    return Finding(True, found)


def _parameter(clients: AwsClients, name: str) -> str | None:
    try:
        return str(clients("ssm").get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError as error:
        if _error_code(error) != "ParameterNotFound":
            raise
        return None


def _secret(clients: AwsClients, name: str, region: str) -> Finding:
    """The notebook reads the token with GetSecretValue in its own region, at run time."""
    try:
        secret = clients("secretsmanager").describe_secret(SecretId=name)
    except ClientError as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
        fix = f"aws secretsmanager create-secret --name {name} --secret-string <token> --region {region}"
        return Finding(False, f"no secret {name} in {region}", fix)
    if secret.get("DeletedDate"):
        fix = f"aws secretsmanager restore-secret --secret-id {name} --region {region}"
        return Finding(False, f"{name} is scheduled for deletion", fix)
    return Finding(True, f"{name} exists")


def _connection(clients: AwsClients, arn: str) -> Finding:
    """CodeConnections: "A connection created through AWS CloudFormation, the CLI, or the SDK is in
    `PENDING` status by default. You can make its status `AVAILABLE` by updating the connection in
    the console." (https://docs.aws.amazon.com/codeconnections/latest/APIReference/API_Connection.html)"""
    _, _, service, region, *_ = arn.split(":")  # codeconnections or codestar-connections
    try:
        connection = clients(service, region).get_connection(ConnectionArn=arn)["Connection"]
    except ClientError as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
        fix = "create one (console: Developer Tools > Settings > Connections) and pass -c connection_arn=<its ARN>"
        return Finding(False, f"no connection {arn}", fix)
    name, status = connection["ConnectionName"], connection["ConnectionStatus"]
    if status == "AVAILABLE":
        return Finding(True, f"{name} is AVAILABLE")
    console = f"Developer Tools > Settings > Connections > {name}"
    if status == "PENDING":
        return Finding(
            False, f"{name} is PENDING", f"complete it in the console: {console} > Update pending connection"
        )
    # "A connection that has an error state is retried automatically. It cannot be used until it is
    # available." (https://docs.aws.amazon.com/dtconsole/latest/userguide/welcome-connections-workflow.html)
    return Finding(False, f"{name} is {status}", f"wait for AWS to retry it, or update it in the console: {console}")


def render_table(checks: Sequence[Check]) -> str:
    rows = [("", "check", "found", "fix")]
    rows += [(MARKS[check.ok], check.label, check.found, check.fix) for check in checks]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths + [0], strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def main(
    argv: Sequence[str] | None = None,
    *,
    connect: Callable[[str | None], AwsClients] = AwsClients.for_region,
    synthesize: Callable[[Mapping[str, Any]], AppNeeds] = synthesize_needs,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_context_option(parser)
    context = app_context(parser.parse_args(argv).context)
    try:
        config = load_config(context)
    except ConfigError as error:
        # As synth says it: one line naming the key, the value and what is allowed.
        print(error, file=sys.stderr)
        return 2
    try:
        needs = synthesize(context)
    except SynthesisFailed as error:
        print(f"the app does not synthesize with these -c options: {error}", file=sys.stderr)
        return 2
    checks = run_checks(config, connect(config.region), needs)
    print(render_table(checks))
    return 0 if all(check.ok for check in checks) else 1
