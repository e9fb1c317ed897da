"""Around the rooms: Kedro hooks and the CLI checks, one job per module.

- :mod:`~work_data_hub.hooks.run_context`: the run's parameters (checked) and its id;
- :mod:`~work_data_hub.hooks.run_report`: the run report, its log events, the summary table;
- :mod:`~work_data_hub.hooks.run_log` and :mod:`~work_data_hub.hooks.json_lines`: the JSON log;
- :mod:`~work_data_hub.hooks.progress`: the terminal progress display;
- :mod:`~work_data_hub.hooks.cli`: checks before ``kedro`` commands start.

They meet the pipeline through the names in :mod:`work_data_hub.pipelines.ingest.names` and the
datasets through the protocols in :mod:`work_data_hub.datasets.results`. Each module imports
only what a ``kedro`` command that never runs a pipeline needs (settings.py imports them all).
"""
