"""SQLAlchemy implementation of the metadata store (SQLite by default, PostgreSQL at scale)."""
