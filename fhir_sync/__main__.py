"""`python -m fhir_sync` runs the command line."""

from fhir_sync.cli import main

main()
