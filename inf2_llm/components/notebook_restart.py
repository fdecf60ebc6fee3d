"""Restart the notebook when the artifact its on-start hook prepares changes, so that the hook runs
the new artifact job without anyone touching the notebook."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, CustomResource, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from inf2_llm.components.function_role import function_role_and_logs
from inf2_llm.components.nag import acknowledge_wildcard_resource
from inf2_llm.lint_metadata import acknowledge_checkov

HANDLER_DIR = Path(__file__).resolve().parents[2] / "lambda" / "notebook_restart"
# `on_event` may first wait out a start or stop already under way (a notebook start is an instance
# launch plus an on-start hook of up to 5 minutes), then confirm its own stop or start: as long as the
# provider framework allows, "It is recommended not to exceed a 14 minutes timeout, since all
# framework functions are configured to time out after 15 minutes" (aws_cdk.custom_resources,
# "Timeouts": https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.custom_resources/README.html).
ON_EVENT_TIMEOUT = Duration.minutes(14)
# One status read per poll, and one start after a stop.
IS_COMPLETE_TIMEOUT = Duration.minutes(1)
QUERY_INTERVAL = Duration.seconds(30)
# After `on_event`: a stop, then a start (an instance launch plus an on-start hook SageMaker ends at
# 5 minutes), with room to spare. "The maximum timeout is 1 hour" (custom_resources.Provider's
# total_timeout, same module), and CloudFormation waits an hour for a custom resource ("The default
# value is 3600 seconds (1 hour)", AWS::CloudFormation::CustomResource ServiceTimeout,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudformation-customresource.html):
# after `on_event`'s 14 minutes, 40 keeps the provider's own "Operation timed out" inside that hour.
TOTAL_TIMEOUT = Duration.minutes(40)


class NotebookRestart(Construct):
    """A custom resource that brings `notebook` through its on-start hook again whenever
    `artifact_identity` changes, and completes once the notebook is InService again.

    It exists whenever the notebook does, with identity "" when the hook prepares no artifact: a
    change from the Hub to a compile is then an Update that restarts the notebook, not a Create.
    Create restarts nothing: the notebook is created in the same deploy and its creation runs the
    hook with these settings, so a restart would only kill the job that hook has just launched.
    (The one exception: a stack deployed before this resource existed gets it by a Create; if that
    same deploy changes the identity, the notebook has to be stopped and started by hand once.)
    An Update restarts the notebook when the identity is new to the same notebook (a replaced
    notebook has just run its hook), and fails with SageMaker's FailureReason when the hook fails.
    The handler (lambda/notebook_restart) says why rollbacks restart nothing. Delete does nothing.

    The resource depends on the lifecycle configuration, so that the hook restarts with its new
    content; dependents (the artifact wait condition) start waiting once the hook is running.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        notebook: sagemaker.CfnNotebookInstance,
        lifecycle: sagemaker.CfnNotebookInstanceLifecycleConfig,
        artifact_identity: str,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # One log group for the handler and the provider framework's three functions, kept as long as
        # the stage keeps logs: the framework logs at FATAL level only, so the group reads as the
        # restart's own record.
        role, log_group = function_role_and_logs(
            self,
            description="Notebook restart: describe, stop and start one notebook instance, write its own logs",
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribeNotebookInstance",
                    "sagemaker:StopNotebookInstance",
                    "sagemaker:StartNotebookInstance",
                ],
                # Ref of a notebook instance is its ARN.
                resources=[notebook.ref],
            )
        )
        log_group.grant_write(role)
        code = lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__"])
        on_event, is_complete = (
            lambda_.Function(
                self,
                function_id,
                runtime=lambda_.Runtime.PYTHON_3_14,
                handler=f"notebook_restart.{handler}",
                code=code,
                role=role,
                timeout=timeout,
                memory_size=128,
                log_group=log_group,
            )
            for function_id, handler, timeout in (
                ("OnEvent", "on_event", ON_EVENT_TIMEOUT),
                ("IsComplete", "is_complete", IS_COMPLETE_TIMEOUT),
            )
        )
        for function in (on_event, is_complete):
            acknowledge_checkov(
                function,
                {
                    "CKV_AWS_115": "No reserved concurrency: the provider calls this handler once per request and poll, "
                    "and a reservation fails in accounts whose quota leaves fewer than 100 executions unreserved.",
                    "CKV_AWS_116": "The provider framework invokes the handler synchronously and reports its every "
                    "failure to CloudFormation; a dead-letter queue only receives failed asynchronous invocations.",
                    "CKV_AWS_117": "It calls the SageMaker API for one notebook instance and reaches nothing in a VPC; "
                    "a VPC would need NAT or an interface endpoint without narrowing what its role allows.",
                },
            )

        # The framework's functions get roles of their own rather than CDK's default ones, which
        # carry the AWSLambdaBasicExecutionRole managed policy (logs in every group of the account).
        framework_roles = {
            purpose: iam.Role(
                self,
                f"{purpose}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Notebook restart provider ({purpose}): call its handler, write its own logs",
            )
            for purpose in ("FrameworkOnEvent", "FrameworkIsComplete")
        }
        for framework_role in framework_roles.values():
            log_group.grant_write(framework_role)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            query_interval=QUERY_INTERVAL,
            total_timeout=TOTAL_TIMEOUT,
            log_group=log_group,
            framework_on_event_role=framework_roles["FrameworkOnEvent"],
            framework_complete_and_timeout_role=framework_roles["FrameworkIsComplete"],
        )
        self._acknowledge_provider(provider, on_event, is_complete)

        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::NotebookRestart",
            properties={
                "NotebookInstanceName": notebook.attr_notebook_instance_name,
                "ArtifactIdentity": artifact_identity,
            },
        )
        # The notebook is referenced, the lifecycle configuration is not: without this the restart
        # could run before the hook's new content is in place.
        self.resource.node.add_dependency(lifecycle)

    def _acknowledge_provider(
        self, provider: cr.Provider, on_event: lambda_.IFunction, is_complete: lambda_.IFunction
    ) -> None:
        """What cdk-nag and checkov report of the provider framework CDK builds."""
        invoke_reason = (
            "CDK's provider framework grants lambda:InvokeFunction on the functions it calls and on their versions "
            "and aliases (':*'); those functions are this construct's own."
        )
        for role in ("FrameworkOnEventRole", "FrameworkIsCompleteRole"):
            for handler in (on_event, is_complete):
                acknowledge_wildcard_resource(
                    self.node.find_child(role), f"{handler.function_arn}:*", reason=invoke_reason
                )
        waiter = provider.node.find_child("waiter-state-machine")
        for framework_id in ("framework-isComplete", "framework-onTimeout"):
            framework_function = provider.node.find_child(framework_id)
            assert isinstance(framework_function, lambda_.Function)
            acknowledge_wildcard_resource(waiter, f"{framework_function.function_arn}:*", reason=invoke_reason)
        for framework_function in provider.node.children:
            if isinstance(framework_function, lambda_.Function):
                acknowledge_checkov(
                    framework_function,
                    {
                        "CKV_AWS_115": "No reserved concurrency: CloudFormation invokes the provider once per deploy "
                        "and poll, and a reservation fails in accounts whose quota leaves none to reserve.",
                        "CKV_AWS_116": "CloudFormation and the waiter state machine are the provider's only callers "
                        "and learn of every failure from its answer; a dead-letter queue would collect events "
                        "that nobody replays.",
                        "CKV_AWS_117": "The provider only calls Lambda, Step Functions and CloudFormation's response "
                        "URL; a VPC would need NAT or interface endpoints without narrowing what it can reach.",
                        "CKV_AWS_173": "The environment holds only the ARNs of the handler functions and the waiter "
                        "state machine, no secret; Lambda encrypts it at rest with its AWS managed key.",
                    },
                )
        # The waiter is a Standard workflow, whose "Execution history data [is] removed after 90 days"
        # (Step Functions, execution guarantees:
        # https://docs.aws.amazon.com/step-functions/latest/dg/express-at-least-once-execution.html).
        # Logging it to CloudWatch would give its role CDK's log-delivery actions on '*', among them
        # logs:PutResourcePolicy, a wider grant than the logs are worth.
        history = (
            "The waiter runs one task, the handler's status poll, which logs every status it reads to the restart's "
            "log group, and Step Functions keeps each execution's history for 90 days; CloudWatch logging would give "
            "its role log-delivery actions on '*', logs:PutResourcePolicy among them."
        )
        tracing = (
            "The waiter's one task calls the handler, which makes at most three SageMaker calls on one notebook and "
            "logs each; X-Ray traces would show nothing those logs do not, for xray:PutTraceSegments on '*'."
        )
        Validations.of(waiter).acknowledge(
            Acknowledgment(id="AwsSolutions-SF1", reason=history),
            Acknowledgment(id="AwsSolutions-SF2", reason=tracing),
        )
        acknowledge_checkov(waiter.node.find_child("Resource"), {"CKV_AWS_284": tracing, "CKV_AWS_285": history})
