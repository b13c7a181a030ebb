"""Orchestration of `fhir-sync plan`: read FHIR files, map, plan each patient, write Bundles."""
