"""Room 3: read a workbook into a frame, normalise it, apply the declared rules, split rejects.

polars (pandas only for a domain's transform): no SQL, no database.
"""
