"""One environment (dev or prod) as a CDK `Stage`, for the pipeline to deploy."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aspects, CfnOutput, Environment, Stage
from constructs import Construct

from inf2_llm.config import AppConfig
from stacks.llm_system import add_llm_system


class LlmStage(Stage):
    """The storage, workbench and serving stacks of one environment.

    The stage only groups what `add_llm_system` builds, so a workstation deploy and a pipeline
    deploy create the same stacks; `config.stage` decides what is retained and protected.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, env=Environment(account=config.account, region=config.region), **kwargs)
        self.config = config
        # Aspects stop at a Stage boundary, and a pipeline synthesizes its stages while it is
        # built: the app's aspects (added before the pipeline) are applied here too, so the
        # stage's templates are the workstation stacks' templates.
        for application in Aspects.of(self.node.root).applied:
            Aspects.of(self).add(application.aspect, priority=application.priority)
        self.system = add_llm_system(self, config=config, name_prefix="Inf2Llm-")
        # Re-exposed so that the pipeline can hand the endpoint's name (and its inference
        # component's, with scale_to_zero) to a post-deploy step.
        self.endpoint_name_output: CfnOutput = self.system.serving.endpoint_name_output
        self.inference_component_name_output: CfnOutput | None = self.system.serving.inference_component_name_output
