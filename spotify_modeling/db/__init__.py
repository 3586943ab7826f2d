"""The store: the SQLite schema and its migrations, and one module per group of tables."""
