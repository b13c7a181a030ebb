"""The use cases: plan one patient, enroll, sync. No HTTP framework, no terminal output: the
CLI, the API and the background worker call these and present what they return."""
