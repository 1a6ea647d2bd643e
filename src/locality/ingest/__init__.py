"""Ingest: one reader per source format, the OCDS merge, and normalisation into store rows."""
