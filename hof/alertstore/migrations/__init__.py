"""The alert store's Alembic migrations, shipped inside the package."""
