"""The ml.inf2 notebook the guide's engineer works on, set up by its own lifecycle scripts."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import (
    Acknowledgment,
    CfnWaitCondition,
    CfnWaitConditionHandle,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from inf2_llm.components.container_image import ContainerImage
from inf2_llm.components.notebook_restart import NotebookRestart
from inf2_llm.components.sagemaker_role import sagemaker_role
from inf2_llm.config import NotebookSettings
from inf2_llm.lifecycle import ArtifactJob, NotebookHookSettings, render_on_create, render_on_start


@dataclass(frozen=True)
class ArtifactRequest:
    """The job that puts the model into S3 for the endpoint, and how long the deploy waits for it."""

    job: ArtifactJob
    # Names the wait condition: another model, image or settings is another artifact to wait for.
    identity: str
    timeout: Duration


class NotebookWorkbench(Construct):
    """Notebook instance, its role, log group and lifecycle configuration.

    With an `artifact_request` the on-start hook launches the artifact job, and `artifact_ready`
    is the CloudFormation wait condition the job signals once the model is in S3. `restart` brings
    the notebook through that hook again when the request's identity changes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NotebookSettings,
        image: ContainerImage,
        bucket: s3.IBucket,
        models_writer: iam.IManagedPolicy,
        key: kms.IKey,
        hf_token_secret_name: str | None,
        artifact_request: ArtifactRequest | None,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.role = sagemaker_role(
            self,
            "Role",
            description=f"Notebook: pull the {image.title} image, prepare the model, store it under models/",
            image=image,
            # SageMaker writes the lifecycle hooks' own output here, under the notebook's role.
            log_groups="/aws/sagemaker/NotebookInstances:*",
            log_groups_reason="SageMaker writes lifecycle-hook output to streams it names after the notebook "
            "in this one log group; ':*' is the log-stream part of the group's own ARN.",
        )
        self.role.add_managed_policy(models_writer)
        self.log_group.grant_write(self.role)
        hf_token_secret_id = ""
        if hf_token_secret_name:
            secret = secretsmanager.Secret.from_secret_name_v2(self, "HfToken", hf_token_secret_name)
            secret.grant_read(self.role)
            hf_token_secret_id = secret.secret_arn

        self.artifact_ready: CfnWaitCondition | None = None
        if artifact_request:
            wait_handle = CfnWaitConditionHandle(self, f"ArtifactSignal{artifact_request.identity}")
        hook_settings = NotebookHookSettings(
            region=stack.region,
            image_uri=image.uri,
            artifact_bucket=bucket.bucket_name,
            log_group_name=self.log_group.log_group_name,
            hf_token_secret_id=hf_token_secret_id,
            idle_minutes=settings.idle_minutes,
            artifact_job=artifact_request.job if artifact_request else None,
            wait_handle_url=wait_handle.ref if artifact_request else None,
        )
        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            on_create=[{"content": Fn.base64(render_on_create(hook_settings))}],
            on_start=[{"content": Fn.base64(render_on_start(hook_settings))}],
        )

        in_vpc = settings.subnet_id is not None
        self.notebook = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            instance_type=settings.instance_type,
            role_arn=self.role.role_arn,
            volume_size_in_gb=settings.volume_size_gb,
            kms_key_id=key.key_id,
            platform_identifier=settings.platform_identifier,
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
            instance_metadata_service_configuration=sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                minimum_instance_metadata_service_version="2"
            ),
            # Lifecycle hooks run as root whatever this says; root stays on for the guide's hands-on
            # steps in the terminal (moving Docker's data root by hand, `docker run --privileged`,
            # neuron-top). AwsSolutions has no rule on it, so there is no finding to acknowledge.
            root_access="Enabled",
            subnet_id=settings.subnet_id,
            security_group_ids=[settings.security_group_id] if settings.security_group_id else None,
            direct_internet_access="Disabled" if in_vpc else "Enabled",
        )
        # The hooks start with the instance: the role's ARN orders the role itself, its policy
        # (image pull, logging) has to be waited for.
        self.notebook.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        if not in_vpc:
            Validations.of(self.notebook).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SM1",
                    reason="No VPC was configured (the guide's default set-up); set notebook_subnet_id and "
                    "notebook_security_group_id to place the notebook in a VPC.",
                ),
                Acknowledgment(
                    id="AwsSolutions-SM3",
                    reason="Without a VPC the notebook needs direct internet access to pull the model from "
                    "the Hugging Face Hub; with notebook_subnet_id it is disabled.",
                ),
            )

        # Stop-and-describe-itself is granted after the instance exists: the instance ARN is only
        # known then, and the instance must not wait on a policy that names it.
        self_stop = iam.Policy(
            self,
            "StopSelf",
            statements=[
                iam.PolicyStatement(
                    actions=["sagemaker:StopNotebookInstance", "sagemaker:DescribeNotebookInstance"],
                    # Ref of a notebook instance is its ARN.
                    resources=[self.notebook.ref],
                )
            ],
        )
        self_stop.attach_to_role(self.role)

        self.restart = NotebookRestart(
            self,
            "Restart",
            notebook=self.notebook,
            lifecycle=lifecycle,
            artifact_identity=artifact_request.identity if artifact_request else "",
            key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        if artifact_request:
            self.artifact_ready = CfnWaitCondition(
                self,
                f"ArtifactReady{artifact_request.identity}",
                handle=wait_handle.ref,
                count=1,
                timeout=str(int(artifact_request.timeout.to_seconds())),
            )
            # The wait starts once the notebook's hook has started with these settings: on the first
            # deploy when the notebook is created, on a later one when it has been restarted.
            self.artifact_ready.node.add_dependency(self.notebook, self.restart.resource)
