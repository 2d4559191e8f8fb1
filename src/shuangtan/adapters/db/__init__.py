"""Relational storage: SQLAlchemy 2 models, tenant-scoped repositories, Alembic migrations.

One SQLite file is the embedded default; PostgreSQL is chosen by ``SHUANGTAN_DATABASE_URL``.
"""
