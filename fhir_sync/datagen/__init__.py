"""Seeded synthetic FHIR R4 medication data: patients, orders and a year of fills.

The generator is deterministic (same seed and `today`, same bytes) and needs only the standard
library and orjson, so tests, benchmarks and demos can make realistic data anywhere. It does
not import the engine or the mappings: it must describe what EHRs and pharmacies send, not
what our code expects.
"""

from fhir_sync.datagen.generator import generate
from fhir_sync.datagen.writer import DatasetStats, write_dataset

__all__ = ["DatasetStats", "generate", "write_dataset"]
