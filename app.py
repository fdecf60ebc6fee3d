#!/usr/bin/env python3
"""inf2-llm: a Korean LLM on AWS Inferentia2, from an empty account to a smoke-tested endpoint."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from inf2_llm.config import ConfigError, load_config
from inf2_llm.lint_metadata import CdkRenderingAcknowledgments
from stacks.llm_system import add_llm_system


def build(app: cdk.App) -> None:
    """Add what the configuration in the app's context asks for, and the cdk-nag gate."""
    config = load_config(app.node.get_all_context())
    # Before the stacks: a pipeline synthesizes its stages while it is built, and each stage
    # takes over the app's aspects when it is created (aspects stop at a Stage boundary).
    cdk.Aspects.of(app).add(CdkRenderingAcknowledgments())
    if config.pipeline:
        # Imported here: the pipeline modules add to every workstation synth otherwise.
        from stacks.pipeline_stack import PipelineStack

        # The pipeline deploys the dev and prod stages; only its own stack is deployed by hand.
        PipelineStack(app, "Inf2Llm-Pipeline", config=config)
    else:
        # Stacks straight under the app, so that `cdk deploy --all` selects them.
        add_llm_system(app, config=config, name_prefix=f"Inf2Llm-{config.stage}-")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def main() -> None:
    app = cdk.App()
    try:
        build(app)
    except ConfigError as error:
        # One line naming the key, the value and what is allowed; nothing is synthesized.
        sys.exit(str(error))
    app.synth()


if __name__ == "__main__":
    main()
