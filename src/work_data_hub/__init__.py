"""WorkDataHub: monthly enterprise-annuity workbooks into a PostgreSQL warehouse, plan first."""

__version__ = "0.1.0"
