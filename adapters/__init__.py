"""Adapters: the I/O edge (HTTP, files, FHIR JSON); never imports the engine or mappings."""
