"""Every URL fhir-sync owns or reads, in one place, as docs/sync-plan-profile.md lists them.

Other systems depend on these names: change them only together with that document, and only
additively.
"""

from __future__ import annotations

from typing import Final

BASE: Final = "https://fhir-sync.org"
_SD: Final = f"{BASE}/StructureDefinition/"

# Extensions read on MedicationRequest.
EXT_PACKAGE_SIZE: Final = _SD + "package-size"
EXT_CONTROLLED_SUBSTANCE_SCHEDULE: Final = _SD + "controlled-substance-schedule"
EXT_EARLIEST_FILL: Final = _SD + "earliest-fill"  # also read on dispenseRequest.initialFill

# Extensions written on CarePlan and CarePlan.activity.detail.
EXT_MEDICATION_REQUEST: Final = _SD + "medication-request"
EXT_SHORT_FILL: Final = _SD + "short-fill"
EXT_DAYS_SUPPLY: Final = _SD + "days-supply"
EXT_CYCLE_QUANTITY: Final = _SD + "cycle-quantity"
EXT_REFILLS_REMAINING: Final = _SD + "refills-remaining"
EXT_SYNC_CYCLE: Final = _SD + "sync-cycle"
EXT_ANCHOR_DATE: Final = _SD + "anchor-date"
EXT_PLAN_DIGEST: Final = _SD + "plan-digest"
EXT_CLARIFICATION_CODE: Final = _SD + "submission-clarification-code"
EXT_PLANNED_FILL: Final = _SD + "planned-fill"
EXT_OWN_DATE: Final = _SD + "own-date"
EXT_SUPPLY_GAP: Final = _SD + "supply-gap"
EXT_TRANSITION_VISIT: Final = _SD + "transition-visit"
EXT_PLAN_NOTE: Final = _SD + "plan-note"
# Added in version 2.1 of the profile (dispensable quantities).
EXT_PACKAGE: Final = _SD + "package"
EXT_FACT_SOURCE: Final = _SD + "fact-source"
EXT_PLAN_FLAG: Final = _SD + "plan-flag"
EXT_FITTING_CYCLE: Final = _SD + "fitting-cycle"

# Extension written on OperationOutcome.issue for rejected input.
EXT_REJECTED_INPUT: Final = _SD + "rejected-input"

# Extensions of the monthly cycle (section 5): on Task.input (one input per fill; with
# EXT_EARLIEST_FILL and EXT_CLARIFICATION_CODE, as on CarePlan activities) and on Communication.
EXT_FILL_QUANTITY: Final = _SD + "fill-quantity"
EXT_FILL_DAYS_SUPPLY: Final = _SD + "fill-days-supply"
EXT_CONTACT_OUTCOME: Final = _SD + "contact-outcome"

# Identifier systems of the resources fhir-sync writes.
SID_SYNC_PLAN: Final = f"{BASE}/sid/sync-plan"
SID_SYNC_APPOINTMENT: Final = f"{BASE}/sid/sync-appointment"
SID_RENEWAL_TASK: Final = f"{BASE}/sid/renewal-task"
# The monthly cycle's: the value of each is a cycle item identifier (see engine.cycle.item_id).
SID_CYCLE_ITEM: Final = f"{BASE}/sid/cycle-item"
SID_CONTACT: Final = f"{BASE}/sid/contact"
# A check-in response posted without an identifier: `<patient id>:<the response's id>`.
SID_CHECK_IN: Final = f"{BASE}/sid/check-in"

# Code systems fhir-sync owns.
CS_CARE_PLAN_CATEGORY: Final = f"{BASE}/CodeSystem/care-plan-category"
CS_TASK_CODE: Final = f"{BASE}/CodeSystem/task-code"
CS_APPOINTMENT_SERVICE: Final = f"{BASE}/CodeSystem/appointment-service"
CS_SYNC_EXCLUSION: Final = f"{BASE}/CodeSystem/sync-exclusion"
CS_PLAN_FLAG: Final = f"{BASE}/CodeSystem/plan-flag"
CS_FACT_SOURCE: Final = f"{BASE}/CodeSystem/fact-source"
# The monthly cycle's.
CS_CYCLE_ITEM: Final = f"{BASE}/CodeSystem/cycle-item"
CS_CONTACT_OUTCOME: Final = f"{BASE}/CodeSystem/contact-outcome"
CS_TASK_INPUT: Final = f"{BASE}/CodeSystem/task-input"
CS_PICKUP_CHOICE: Final = f"{BASE}/CodeSystem/check-in-pickup"

# A code of CS_TASK_CODE: the monthly cycle's preparation Task.
TASK_CODE_PREPARE_FILLS: Final = "prepare-fills"

# The check-in Questionnaire fhir-sync ships: its canonical URL and the version it writes.
QUESTIONNAIRE_CHECK_IN: Final = f"{BASE}/Questionnaire/med-sync-check-in"
QUESTIONNAIRE_CHECK_IN_VERSION: Final = "1"

# External code systems.
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM: Final = "http://unitsofmeasure.org"
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_GTS_ABBREVIATION: Final = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
COURSE_OF_THERAPY: Final = (
    "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
)
