"""Around the rooms: Kedro hooks (run report, JSON log, progress) and the CLI checks.

- :mod:`~work_data_hub.hooks.run_report`: run context and parameters, the run report;
- :mod:`~work_data_hub.hooks.run_log` and :mod:`~work_data_hub.hooks.json_lines`: the JSON log;
- :mod:`~work_data_hub.hooks.progress`: the terminal progress display;
- :mod:`~work_data_hub.hooks.cli`: checks before ``kedro`` commands start.
"""
