"""FHIR R4 JSON -> engine types: orders, dispenses, dosages, medications, patients."""
