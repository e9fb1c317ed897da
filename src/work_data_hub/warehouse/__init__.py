"""The one PostgreSQL client: connecting, read-only reads, applying a plan file, the checks.

Only this room opens a connection (and imports the driver, on first connect); the datasets
above it are thin Kedro faces over it.
"""
