"""The ingest pipeline's node and dataset names, which the hooks and the catalog rely on.

Inside a domain each is prefixed by the namespace (``trustee_performance.load_plan``); the
catalog's dataset factories (``"{domain}.load_plan"``) match them. :mod:`.pipeline` builds the
nodes from these names, so renaming one here renames it everywhere (and a catalog entry left
behind fails the run report loudly: see :mod:`work_data_hub.datasets.results`).
"""

SELECT_STEP = "select_workbooks"
SKIP_STEP = "skip_loaded"
CLEAN_STEP = "clean_workbooks"
PLAN_STEP = "plan_load"

INBOX_WORKBOOKS = "inbox_workbooks"
SELECTED_FILES = "selected_files"
LOAD_LEDGER = "load_ledger"
FILE_MANIFEST = "file_manifest"
CLEAN_ROWS = "clean_rows"
REJECTS = "rejects"
# Handed over with the rejects when the clean step ends, and written in the background while
# the plan is made and applied (the load commits only once they are whole): a refused execute
# still leaves them for people to see why.
REJECTS_WORKBOOKS = "rejects_workbooks"
CLEANING_SUMMARY = "cleaning_summary"
LOAD_PLAN = "load_plan"
RUN_ID = "run_id"
