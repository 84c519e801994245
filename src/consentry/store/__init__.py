"""Adapters to the database: the only SQL in Consentry. SQLite (WAL) by default, PostgreSQL for scale."""
