"""Alembic migrations of the server database (`fhir-sync db upgrade`)."""
