"""The background work of a server process, also run alone by `fhir-sync worker`: the write-back
outbox, requested syncs, hold checks and the daily cycle, each a loop over a lease queue or a
clock."""
