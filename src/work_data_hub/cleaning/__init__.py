"""Room 3: read a workbook into a frame, normalise it, apply the declared rules, split rejects.

pandas only: no SQL, no database.
"""
