"""The project's configuration: one typed, validated, immutable object built once in app.py from
`cdk.json` context and `-c key=value` overrides.

Each part declares the keys it owns in its settings group (`inf2_llm.settings`): the notebook,
the endpoint, the smoke test and the pipeline here (`groups`), the compilation beside the model
profiles, each runtime's own keys beside the runtime, and the choice of what is deployed where on
`AppConfig` itself.
"""

from inf2_llm.config.app_config import GROUPS, STAGES, AppConfig
from inf2_llm.config.groups import EndpointSettings, NotebookSettings, PipelineSettings, SmokeTestSettings
from inf2_llm.config.loading import SETTINGS, config_for_stage, load_config
from inf2_llm.config.table import markdown_table
from inf2_llm.config_error import ConfigError

__all__ = [
    "GROUPS",
    "SETTINGS",
    "STAGES",
    "AppConfig",
    "ConfigError",
    "EndpointSettings",
    "NotebookSettings",
    "PipelineSettings",
    "SmokeTestSettings",
    "config_for_stage",
    "load_config",
    "markdown_table",
]
