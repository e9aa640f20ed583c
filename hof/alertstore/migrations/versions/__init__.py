"""Alembic revisions of the alert store, oldest first by their down_revision chain."""
