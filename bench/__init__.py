"""Benchmarks: each compares fhir-sync with a baseline measured in the same run."""
