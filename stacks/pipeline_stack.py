"""The CDK pipeline: test and synthesize, deploy dev, smoke-test it, approve, deploy prod, smoke-test it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Duration, Environment, Stack, Validations, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from constructs import Construct

from inf2_llm.components.encrypted_bucket import EncryptedBucket
from inf2_llm.components.nag import acknowledge_wildcard_resource
from inf2_llm.config import AppConfig, config_for_stage
from inf2_llm.lint_metadata import acknowledge_checkov
from stacks.llm_stage import LlmStage

# (construct id of the stage, configuration stage), in deployment order.
STAGES = (("Dev", "dev"), ("Prod", "prod"))
# STANDARD_7_0 (Ubuntu 22.04) has both runtimes scripts/dev.sh needs; the project's tests and
# the pipeline's own synthesis run as root there, so dev.sh's apt-get shellcheck install works.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIME_VERSIONS = {"python": "3.11", "nodejs": "20"}
SMOKE_TEST_TIMEOUT = Duration.minutes(20)
# The CDK CLI the project pins: self-mutation deploys with the same CLI a developer uses.
PACKAGE_JSON = Path(__file__).resolve().parents[1] / "package.json"


def pinned_cdk_cli_version() -> str:
    return str(json.loads(PACKAGE_JSON.read_text())["devDependencies"]["aws-cdk"])


def synth_command(config: AppConfig) -> str:
    """The pipeline synthesizes itself with the overrides it was synthesized with."""
    arguments = " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in config.overrides)
    return f"scripts/dev.sh synth {arguments}"


class PipelineStack(Stack):
    """A self-mutating CDK pipeline from one branch of a repository to the dev and prod stages."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        if config.pipeline is None:
            raise ValueError("PipelineStack needs a configuration with pipeline=true")
        super().__init__(
            scope,
            construct_id,
            description="inf2-llm: CDK pipeline deploying dev, then prod after approval",
            env=Environment(account=config.account, region=config.region),
            **kwargs,
        )
        settings = config.pipeline
        # Artifacts only matter to the execution that wrote them, so they expire; bucket and key are
        # retained so that a pipeline teardown loses no audit trail.
        artifacts = EncryptedBucket(
            self,
            "Artifacts",
            purpose="the inf2-llm pipeline's artifacts",
            retain=True,
            noncurrent_version_days=1,
            current_version_days=30,
            access_log_days=365,
        )
        self.source = pipelines.CodePipelineSource.connection(
            settings.repository, settings.branch, connection_arn=settings.connection_arn
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=artifacts.bucket,
            publish_assets_in_parallel=False,
            cli_version=pinned_cdk_cli_version(),
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": RUNTIME_VERSIONS}}}
                ),
            ),
            # The test suite synthesizes several apps; a small instance (3 GB) is tight for it.
            # Privileged: the test suite runs the notebook's lifecycle scripts in a private mount
            # namespace (unshare), which an unprivileged build container may not create.
            synth_code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(compute_type=codebuild.ComputeType.MEDIUM, privileged=True)
            ),
            # The developer's test command gates every change; then the app is synthesized with
            # the context this pipeline was synthesized with.
            synth=pipelines.CodeBuildStep(
                "Synth",
                input=self.source,
                commands=["scripts/dev.sh test", synth_command(config)],
                primary_output_directory="cdk.out",
            ),
        )
        self.stages: list[LlmStage] = []
        smoke_tests: list[pipelines.CodeBuildStep] = []
        for stage_id, stage_name in STAGES:
            # Built anew per stage: what a stage does by default (its model source) depends on it.
            stage = LlmStage(self, stage_id, config=config_for_stage(config, stage_name))
            pre: list[pipelines.Step] = []
            if stage.config.is_production:
                pre.append(
                    pipelines.ManualApprovalStep(
                        "PromoteToProd", comment="dev is deployed and its smoke test passed: deploy prod?"
                    )
                )
            smoke_tests.append(self._smoke_test(stage))
            self.pipeline.add_stage(stage, pre=pre, post=[smoke_tests[-1]])
            self.stages.append(stage)
        # Built now, not at synthesis, so that the roles exist for the acknowledgments below.
        self.pipeline.build_pipeline()
        self._acknowledge_pipeline_grants(smoke_tests)

    def _smoke_test(self, stage: LlmStage) -> pipelines.CodeBuildStep:
        """Runs scripts/smoke_test.py against the stage's endpoint; its role may only invoke endpoints."""
        config = stage.config
        arguments = [
            "--endpoint-name",
            '"$ENDPOINT_NAME"',
            "--region",
            shlex.quote(str(config.region)),
            "--max-ms-per-token",
            f"{config.smoke_test.max_ms_per_token:g}",
            "--max-new-tokens",
            str(config.smoke_test.max_new_tokens),
        ]
        for stop in config.profile.stop_sequences:
            arguments += ["--stop", shlex.quote(stop)]
        for api in config.runtime.apis:
            arguments += ["--api", api]
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=self.source,
            # The script needs boto3 only, at the version requirements.txt pins.
            install_commands=["python -m pip install --quiet \"$(grep -E '^boto3==' requirements.txt)\""],
            commands=["python scripts/smoke_test.py " + " ".join(arguments)],
            env_from_cfn_outputs={"ENDPOINT_NAME": stage.endpoint_name_output},
            role_policy_statements=[
                iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[self._endpoints_arn(config)])
            ],
            timeout=SMOKE_TEST_TIMEOUT,
        )

    def _endpoints_arn(self, config: AppConfig) -> str:
        return self.format_arn(
            service="sagemaker", resource="endpoint", resource_name="*", account=config.account, region=config.region
        )

    def _acknowledge_pipeline_grants(self, smoke_tests: list[pipelines.CodeBuildStep]) -> None:
        """The wildcards CDK Pipelines writes into its roles, each acknowledged where it occurs."""
        for finding in ARTIFACT_GRANT_FINDINGS:
            Validations.of(self.pipeline).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[{finding}]",
                    reason="CDK Pipelines grants its roles CDK's standard read or read/write action sets on "
                    "the pipeline's own artifact bucket and key, and nothing else; artifact object keys "
                    "are generated per execution.",
                )
            )
        acknowledge_wildcard_resource(
            self.pipeline,
            self.pipeline.pipeline.artifact_bucket.arn_for_objects("*"),
            reason="Pipeline artifacts are objects with per-execution generated keys in the pipeline's "
            "own artifact bucket; the wildcard covers that bucket only.",
        )
        projects = [self.pipeline.synth_project, self.pipeline.self_mutation_project]
        projects += [step.project for step in smoke_tests]
        for project in projects:
            self._acknowledge_project_logs(project)
        for step, stage in zip(smoke_tests, self.stages, strict=True):
            acknowledge_wildcard_resource(
                step.project,
                self._endpoints_arn(stage.config),
                reason="The endpoint's name is generated by CloudFormation when the stage deploys, after "
                "this role is created, and reaches the step only at run time; the grant is the one action "
                "sagemaker:InvokeEndpoint, on endpoints of the stage's own account and region.",
            )

        mutation = self.pipeline.self_mutation_project
        acknowledge_wildcard_resource(
            mutation,
            f"arn:*:iam::{self.account}:role/*",
            reason="Self-mutation runs `cdk deploy` of the pipeline stack, which assumes the CDK bootstrap "
            "roles; the statement is conditioned on the aws-cdk:bootstrap-role tag, so only those roles match.",
        )
        acknowledge_wildcard_resource(
            mutation,
            "*",
            reason="The CDK CLI reads the bootstrap stack (cloudformation:DescribeStacks) and lists the "
            "bootstrap asset bucket (s3:ListBucket) before deploying; both are read-only.",
        )
        file_role = self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        build_control = (
            "CodePipeline's asset-publishing action starts and polls the asset-publishing CodeBuild builds "
            "through this role (codebuild:StartBuild, BatchGetBuilds, StopBuild); its only other power is "
            "assuming the bootstrap file-publishing role."
        )
        acknowledge_checkov(file_role.node.find_child("DefaultPolicy"), {"CKV_AWS_111": build_control})
        for resource, reason in (
            ("*", build_control),
            (
                f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:/aws/codebuild/*",
                "One role serves every asset-publishing project CDK Pipelines adds as assets appear, so it "
                "writes CodeBuild log groups of this account and region rather than of named projects.",
            ),
            (
                f"arn:{self.partition}:codebuild:{self.region}:{self.account}:report-group/*",
                "One role serves every asset-publishing project CDK Pipelines adds as assets appear, so it "
                "may create CodeBuild report groups of this account and region rather than of named projects.",
            ),
        ):
            acknowledge_wildcard_resource(file_role, resource, reason=reason)

    def _acknowledge_project_logs(self, project: codebuild.IProject) -> None:
        """Findings on a project's role: the role is a child of the project."""
        name = project.project_name
        acknowledge_wildcard_resource(
            project,
            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:/aws/codebuild/{name}:*",
            reason="A CodeBuild project writes log streams named per build into its own log group.",
        )
        acknowledge_wildcard_resource(
            project,
            f"arn:{self.partition}:codebuild:{self.region}:{self.account}:report-group/{name}-*",
            reason="A CodeBuild project's test reports go to report groups prefixed with its own name.",
        )


# IAM5 findings of CDK's grants on the artifact bucket and key (grantRead / grantReadWrite).
ARTIFACT_GRANT_FINDINGS = (
    "Action::s3:Abort*",
    "Action::s3:DeleteObject*",
    "Action::s3:GetBucket*",
    "Action::s3:GetObject*",
    "Action::s3:List*",
    "Action::kms:GenerateDataKey*",
    "Action::kms:ReEncrypt*",
)
