"""Room 5 and the inbox: WorkDataHub's Kedro datasets, one class per module."""
