"""SQLAlchemy 2 (async, Core) adapters: one schema for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""
