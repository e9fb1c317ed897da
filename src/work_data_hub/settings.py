"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from work_data_hub.conf_files import CONFIG_LOADER_ARGS as PROJECT_LOADER_ARGS
from work_data_hub.conf_files import ProjectConfigLoader
from work_data_hub.datasets.catalog import WorkDataHubCatalog
from work_data_hub.hooks.progress import ProgressHooks
from work_data_hub.hooks.run_context import RunContextHooks
from work_data_hub.hooks.run_log import RunLogHooks
from work_data_hub.hooks.run_report import RunReportHooks
from work_data_hub.hooks.warehouse import WarehouseHooks
from work_data_hub.integrations.kedro_viz import disable_if_loaded

# Nothing in this project reaches the network: Kedro-Viz's server process has imported kedro-viz
# before it loads these settings (`kedro viz ...` itself: hooks/cli.py). See
# integrations/kedro_viz.py.
disable_if_loaded()

# Kedro-Viz's run hooks write .viz/kedro_pipeline_events.json (holding a failing row's values)
# and .viz/stats.json outside data/, world-readable: every file a run writes is under data/.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)

# Order matters where no tryfirst/trylast says otherwise: pluggy calls the last one first
# (WarehouseHooks checks prod's warehouse before the run starts).
HOOKS = (RunContextHooks(), RunReportHooks(), RunLogHooks(), ProgressHooks(), WarehouseHooks())

# Parameters kept without Kedro's copy-mode guess, which imports pandas (datasets/catalog.py).
DATA_CATALOG_CLASS = WorkDataHubCatalog

# Declared below config/, which reads data_sources.yml with the same loader before Kedro starts;
# its YAML syntax errors show the line at fault and why.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = PROJECT_LOADER_ARGS
