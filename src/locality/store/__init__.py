"""The DuckDB store: schema, migrations and the transactional loader."""
