"""How the conf files are found: the loader arguments settings.py gives Kedro.

A bottom-floor module, so that config/ reads data_sources.yml with the very loader Kedro uses
without importing settings.py (which imports every hook), and ``kedro --version`` (which loads
settings.py) imports no configuration models.
"""

from __future__ import annotations

from typing import Any

CONFIG_LOADER_ARGS: dict[str, Any] = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "data_sources": ["data_sources*", "data_sources*/**"],
        "mappings": ["mappings*", "mappings*/**"],
        "globals": ["globals*", "globals*/**"],
    },
}
