"""A Lambda that calls the endpoint through each API its runtime answers, optionally gating the deploy."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, triggers
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from inf2_llm.components.function_role import function_role_and_logs
from inf2_llm.components.model_endpoint import ModelEndpoint
from inf2_llm.config import SmokeTestSettings
from inf2_llm.lint_metadata import acknowledge_checkov

HANDLER_DIR = Path(__file__).resolve().parents[2] / "lambda" / "smoke_test"
# The longest run, two APIs' retries and streamed answers with a stall at the end, takes about 7
# minutes with the default budgets and at most 590 s with any the configuration accepts (the bound
# is worked out in lambda/smoke_test/invocation.py; inf2_llm/config/checks.py keeps the budgets
# within it). Not Lambda's maximum of 15 minutes: CDK's trigger provider, the function that invokes
# this one and waits for its answer, has those 15 minutes itself (its Timeout: 900 in the template),
# after up to a minute of retries while its permission to invoke propagates (aws-cdk-lib 2.275.0,
# custom-resource-handlers/dist/triggers/lambda/index.js). A provider timed out sends CloudFormation
# no answer, and the deploy then waits out the custom resource's timeout: "The default value is 3600
# seconds (1 hour)"
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-customresource.html).
FUNCTION_TIMEOUT = Duration.minutes(10)


class EndpointSmokeTest(Construct):
    """The smoke-test function; with `settings.on_deploy` a CDK trigger runs it once the endpoint
    (and its inference component, where it hosts one) is in service, and an exception in the
    handler fails the deploy.

    The trigger runs whenever the function's version changes. A new model, image or setting
    replaces the endpoint's configuration and updates the endpoint in place, under the same
    name; the configuration's digest is mixed into the version, so every such deploy publishes
    a new version (whose environment names the new configuration) and is smoke-tested.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: ModelEndpoint,
        apis: tuple[str, ...],
        settings: SmokeTestSettings,
        stop_sequences: tuple[str, ...],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        role, log_group = function_role_and_logs(
            self,
            description="Smoke test: invoke one endpoint, read its own environment, write its own logs",
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        endpoint.grant_invoke(role)
        log_group.grant_write(role)
        # The environment is encrypted with the project key, which Lambda decrypts as this role
        # when the function starts.
        key.grant_decrypt(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__"]),
            role=role,
            timeout=FUNCTION_TIMEOUT,
            memory_size=256,
            # No reserved concurrency: "you can reserve concurrency ... as long as you leave at least
            # 100 simultaneous executions unreserved"
            # (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html), while "new AWS
            # accounts have reduced concurrency and memory quotas" (10 executions;
            # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): any reservation fails there.
            log_group=log_group,
            environment_encryption=key,
            environment={
                "ENDPOINT_NAME": endpoint.endpoint_name,
                "ENDPOINT_CONFIG_NAME": endpoint.endpoint_config_name,
                "APIS": json.dumps(list(apis)),
                "MAX_MS_PER_TOKEN": f"{settings.max_ms_per_token:g}",
                "MAX_FIRST_TOKEN_MS": f"{settings.max_first_token_ms:g}",
                "MAX_NEW_TOKENS": str(settings.max_new_tokens),
                "STOP_SEQUENCES": json.dumps(list(stop_sequences)),
                # Only an endpoint that hosts an inference component has one to name.
                **(
                    {"INFERENCE_COMPONENT_NAME": endpoint.inference_component_name}
                    if endpoint.inference_component_name
                    else {}
                ),
            },
        )
        acknowledge_checkov(
            self.function,
            {
                "CKV_AWS_115": "No reserved concurrency: a reservation must leave at least 100 executions "
                "unreserved (Lambda PutFunctionConcurrency API reference), so it fails the deploy in a new account, "
                "whose quota is 10. The trigger, a pipeline step or a person runs the function once per deploy.",
                "CKV_AWS_116": "The function is invoked synchronously (the deploy trigger waits for its answer, as "
                "do the pipeline step and a person); a dead-letter queue only receives failed asynchronous invocations.",
                "CKV_AWS_117": "It calls the SageMaker Runtime API of one endpoint, nothing in a VPC; a VPC would need "
                "NAT or an interface endpoint without narrowing what it reaches, which its role limits to that endpoint.",
            },
        )
        self.function.invalidate_version_based_on(endpoint.configuration_digest)
        if settings.on_deploy:
            triggers.Trigger(
                self,
                "RunAfterDeploy",
                handler=self.function,
                execute_after=[endpoint.ready],
                invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
                timeout=FUNCTION_TIMEOUT,
            )
