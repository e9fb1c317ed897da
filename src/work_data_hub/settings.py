"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

from work_data_hub.hooks import RunReportHooks

HOOKS = (RunReportHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "data_sources": ["data_sources*", "data_sources*/**"],
        "mappings": ["mappings*", "mappings*/**"],
        "globals": ["globals*", "globals*/**"],
    },
}
