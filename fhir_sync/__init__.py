"""fhir-sync: medication synchronization (the Appointment-Based Model) over FHIR R4."""

__version__ = "0.1.0"
