"""Room 4: the load as data (statements and a COPY payload); knows SQL, not pandas cleaning."""
