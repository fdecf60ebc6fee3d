"""The CDK pipeline: test and synthesize, deploy dev, smoke-test it, approve, deploy prod, smoke-test it."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Environment, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from constructs import Construct

from inf2_llm.components.model_endpoint import ModelEndpoint
from inf2_llm.components.pipeline_acknowledgments import acknowledge_pipeline_grants
from inf2_llm.components.pipeline_artifacts import PipelineArtifacts
from inf2_llm.config import AppConfig, config_for_stage
from stacks.llm_stage import LlmStage
from workstation.scale_from_zero import capacity_wait_minutes

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
        artifacts = PipelineArtifacts(self, "Artifacts")
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
        # Each smoke-test step, with the endpoints it may invoke.
        smoke_tests: list[tuple[pipelines.CodeBuildStep, str]] = []
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
            # The stage's endpoint is in another stack and named at deploy: the step may invoke the
            # endpoints of the stage's account and region.
            endpoints = ModelEndpoint.endpoints_arn(self, account=stage.config.account, region=stage.config.region)
            smoke_test = self._smoke_test(stage, endpoints_arn=endpoints)
            self.pipeline.add_stage(stage, pre=pre, post=[smoke_test])
            smoke_tests.append((smoke_test, endpoints))
            self.stages.append(stage)
        # Built now, not at synthesis, so that the roles exist for the acknowledgments.
        self.pipeline.build_pipeline()
        acknowledge_pipeline_grants(self.pipeline, smoke_tests=smoke_tests)

    def _smoke_test(self, stage: LlmStage, *, endpoints_arn: str) -> pipelines.CodeBuildStep:
        """Runs scripts/smoke_test.py against the stage's endpoint (and its inference component, with
        scale_to_zero); its role may only invoke `endpoints_arn` and that component."""
        config = stage.config
        arguments = [
            "--endpoint-name",
            '"$ENDPOINT_NAME"',
            "--region",
            shlex.quote(str(config.region)),
            "--max-ms-per-token",
            f"{config.smoke_test.max_ms_per_token:g}",
            "--max-first-token-ms",
            f"{config.smoke_test.max_first_token_ms:g}",
            "--max-new-tokens",
            str(config.smoke_test.max_new_tokens),
        ]
        for stop in config.profile.stop_sequences:
            arguments += ["--stop", shlex.quote(stop)]
        for api in config.runtime.apis:
            arguments += ["--api", api]
        outputs = {"ENDPOINT_NAME": stage.endpoint_name_output}
        timeout = SMOKE_TEST_TIMEOUT
        invoked = [endpoints_arn]
        if stage.inference_component_name_output:
            # The component is named in every call; if the stage's deploy left it alone while it idled
            # at zero copies, the step waits for the copy its first request brings back.
            outputs["INFERENCE_COMPONENT_NAME"] = stage.inference_component_name_output
            wait_minutes = capacity_wait_minutes(config.endpoint.startup_timeout_seconds)
            arguments += ["--inference-component-name", '"$INFERENCE_COMPONENT_NAME"']
            arguments += ["--capacity-wait-minutes", f"{wait_minutes:g}"]
            timeout = timeout.plus(Duration.minutes(math.ceil(wait_minutes)))
            # The component's name, unlike the endpoint's, is fixed at synth: its own ARN, no wildcard.
            component = stage.system.serving.model_endpoint.inference_component_name
            assert component, "a stage with an InferenceComponentName output hosts a component"
            invoked.append(
                ModelEndpoint.component_arn(self, name=component, account=config.account, region=config.region)
            )
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=self.source,
            # The script needs boto3 only, at the version requirements.txt pins.
            install_commands=["python -m pip install --quiet \"$(grep -E '^boto3==' requirements.txt)\""],
            commands=["python scripts/smoke_test.py " + " ".join(arguments)],
            env_from_cfn_outputs=outputs,
            role_policy_statements=[ModelEndpoint.invoke_statement(invoked)],
            timeout=timeout,
        )
