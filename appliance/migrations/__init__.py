"""Alembic migrations, run by `appliance db upgrade` (expand/contract, safe while serving)."""
