"""Persistence: SQL schema and repositories (SQLAlchemy 2 async), and the artifact blob store."""
