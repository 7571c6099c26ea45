"""The SQL backend: one schema on SQLAlchemy Core for SQLite and PostgreSQL."""
