"""Kedro-Viz and Dagster: each patch into another project is version-fenced and guard-tested."""
