"""The SageMaker endpoint that serves the model with a serving runtime's container."""

from __future__ import annotations

import hashlib
import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from inf2_llm.components.container_image import ContainerImage
from inf2_llm.components.endpoint_hosting import EndpointHosting
from inf2_llm.components.model_source import ModelSource
from inf2_llm.components.sagemaker_role import sagemaker_role
from inf2_llm.lint_metadata import acknowledge_checkov
from inf2_llm.profiles import NeuronCompilation
from inf2_llm.runtimes import ServingRuntime

# What calling an endpoint takes: the runtime API's InvokeEndpoint, nothing else.
INVOKE_ACTIONS = ["sagemaker:InvokeEndpoint"]


class ModelEndpoint(Construct):
    """Model, endpoint configuration and endpoint, serving the model `model` supplies the way
    `hosting` hosts it (endpoint_hosting.py, inference_component.py).

    `grant_invoke` lets a principal call it; `metric` gives the CloudWatch metrics of what serves
    requests (see endpoint_alarms.py and endpoint_autoscaling.py, which add resources in this
    construct's scope, and component_scaling.py).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hosting: EndpointHosting,
        runtime: ServingRuntime,
        image: ContainerImage,
        compilation: NeuronCompilation,
        key: kms.IKey,
        model: ModelSource,
    ) -> None:
        super().__init__(scope, construct_id)

        self.role = sagemaker_role(
            self,
            "Role",
            description=f"Endpoint: pull the {image.title} image, read the compiled model, write its logs",
            image=image,
            log_groups="/aws/sagemaker/Endpoints/*",
            log_groups_reason="SageMaker names an endpoint's log group after the endpoint, and CloudFormation "
            "generates that name only after this role must exist; the grant covers SageMaker endpoint log "
            "groups only.",
        )

        source = model.bind(self, self.role)
        container = sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image.uri,
            model_data_source=source.data_source,
            environment=runtime.container_environment(
                model=source.model,
                revision=source.revision,
                compilation=compilation,
            ),
        )
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            enable_network_isolation=source.network_isolation,
            primary_container=container,
        )
        acknowledge_checkov(self.model, source.checkov_skips)
        # SageMaker checks at creation that the role can pull the image: the role's ARN orders the
        # role itself, its policy has to be waited for.
        self.model.node.add_dependency(self.role.node.find_child("DefaultPolicy"))

        hosted = hosting.host(
            self, model=self.model, role=self.role, network_isolation=source.network_isolation, key=key
        )
        self.endpoint = hosted.endpoint
        self.endpoint_name = self.endpoint.attr_endpoint_name
        # Ref of a SageMaker endpoint is its ARN.
        self.endpoint_arn = self.endpoint.ref
        self.endpoint_config_name = hosted.endpoint_config.attr_endpoint_config_name
        self.ready = hosted.ready
        self.inference_component_name = hosted.inference_component_name
        self.inference_component_arn = (
            self.component_arn(self, name=self.inference_component_name) if self.inference_component_name else None
        )
        self._metric_dimensions = hosted.metric_dimensions
        # Model and endpoint configuration take every property at creation: any change replaces
        # the configuration under a new generated name and updates the endpoint in place. This
        # digest of what serves the model, as the template holds it, changes exactly then.
        served = [container, source.network_isolation, *hosted.served, key.key_arn]
        self.configuration_digest = hashlib.sha256(
            json.dumps(Stack.of(self).resolve(served), sort_keys=True).encode()
        ).hexdigest()[:16]

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` call this endpoint (and its inference component), and nothing else.

        A call to a component names both the endpoint and the component (InvokeEndpoint's
        InferenceComponentName); the grant covers both ARNs, so it holds whichever of them IAM
        authorizes, and it widens nothing: the component is this endpoint's own."""
        arns = [self.endpoint_arn, *([self.inference_component_arn] if self.inference_component_arn else [])]
        return iam.Grant.add_to_principal(grantee=grantee, actions=INVOKE_ACTIONS, resource_arns=arns)

    @staticmethod
    def invoke_statement(endpoint_arns: list[str]) -> iam.PolicyStatement:
        """What `grant_invoke` grants, as a statement, for callers that take statements rather than
        grantees (a CDK Pipelines step) and endpoints they cannot reference (see `endpoints_arn`)."""
        return iam.PolicyStatement(actions=INVOKE_ACTIONS, resources=endpoint_arns)

    @staticmethod
    def endpoints_arn(scope: Construct, *, account: str | None, region: str | None) -> str:
        """The ARN pattern of every endpoint of `account` and `region` (the stack's when None): for a
        caller outside the endpoint's stack, to which CloudFormation reveals the endpoint's generated
        name only at deploy time."""
        return Stack.of(scope).format_arn(
            service="sagemaker", resource="endpoint", resource_name="*", account=account, region=region
        )

    @staticmethod
    def component_arn(scope: Construct, *, name: str, account: str | None = None, region: str | None = None) -> str:
        """The ARN of the inference component `name` (its name is fixed at synth) of `account` and
        `region` (the stack's when None)."""
        return Stack.of(scope).format_arn(
            service="sagemaker", resource="inference-component", resource_name=name, account=account, region=region
        )

    def metric(self, metric_name: str, *, statistic: str) -> cloudwatch.Metric:
        """An invocation metric, in the AWS/SageMaker namespace over 5 minutes, of what serves
        requests: the endpoint's variant, or its inference component."""
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map=dict(self._metric_dimensions),
            statistic=statistic,
            period=Duration.minutes(5),
        )
