"""`fhir-sync serve`: enrollment and the FHIR API over the stored plans.

Orchestration only: it wires the engine, the mappings, the store and (for live pulls) the
sync service together; FHIR rules live in the modules named after them.
"""
