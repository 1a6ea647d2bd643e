"""locality: where a place's public money goes, and whom it reaches.

Stages: ingest (readers, merge, normalise) → store (DuckDB) → metrics → interfaces (CLI, API).
"""

__version__ = "0.1.0"
