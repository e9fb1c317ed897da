"""WorkDataHub: monthly enterprise-annuity workbooks into a PostgreSQL warehouse, plan first."""

from work_data_hub.bytecode import keep_bytecode

__version__ = "0.1.0"

# Imported first by every kedro command (the CLI hook plugin): where PYTHONDONTWRITEBYTECODE is
# set, the process keeps its compiled modules for the next one (bytecode.py).
keep_bytecode()
