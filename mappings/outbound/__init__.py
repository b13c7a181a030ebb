"""Engine results -> FHIR R4 JSON: the sync-plan Bundle, its CarePlan, Appointment and Tasks,
and the plan digest."""
