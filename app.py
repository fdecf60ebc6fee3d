#!/usr/bin/env python3
"""inf2-llm: a Korean LLM on AWS Inferentia2, from an empty account to a smoke-tested endpoint."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from inf2_llm.config import ConfigError, load_config
from stacks.llm_system import add_llm_system


def main() -> None:
    app = cdk.App()
    try:
        config = load_config(app.node.get_all_context())
    except ConfigError as error:
        # One line naming the key, the value and what is allowed; nothing is synthesized.
        sys.exit(str(error))
    add_llm_system(app, config=config, name_prefix=f"Inf2Llm-{config.stage}-")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
