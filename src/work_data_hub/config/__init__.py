"""Room 1: configuration, read once and validated.

- :mod:`~work_data_hub.config.domains`: the domains of ``data_sources.yml`` (columns, rules, keys);
- :mod:`~work_data_hub.config.params`: the runtime parameters;
- :mod:`~work_data_hub.config.warehouse`: where the warehouse is;
- :mod:`~work_data_hub.config.project`: the Kedro project and environment, and reading the files.
"""

from work_data_hub.config.domains import (
    LINEAGE_COLUMNS,
    ColumnSpec,
    DataSourcesError,
    DefaultWhen,
    DomainConfig,
    LoadMode,
    RuleName,
    parse_domains,
)
from work_data_hub.config.params import RunParameters, RunParametersError, check_run_parameters

__all__ = [
    "LINEAGE_COLUMNS",
    "ColumnSpec",
    "DataSourcesError",
    "DefaultWhen",
    "DomainConfig",
    "LoadMode",
    "RuleName",
    "RunParameters",
    "RunParametersError",
    "check_run_parameters",
    "parse_domains",
]
