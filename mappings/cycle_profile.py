"""The names the monthly cycle's resources use (docs/sync-plan-profile.md, section 5).

Kept beside `profile.py` rather than in it so that the cycle's names can be read, and
reviewed, together; like those, they change only additively.
"""

from __future__ import annotations

from typing import Final

from mappings.profile import BASE

# Identifier systems: the value of each is a cycle item identifier (see engine.cycle.item_id).
SID_CYCLE_ITEM: Final = f"{BASE}/sid/cycle-item"
SID_CONTACT: Final = f"{BASE}/sid/contact"

# Code systems fhir-sync owns.
CS_CYCLE_ITEM: Final = f"{BASE}/CodeSystem/cycle-item"
CS_CONTACT_OUTCOME: Final = f"{BASE}/CodeSystem/contact-outcome"
CS_TASK_INPUT: Final = f"{BASE}/CodeSystem/task-input"
CS_PICKUP_CHOICE: Final = f"{BASE}/CodeSystem/check-in-pickup"

# Extensions on Task.input (one input per fill; with profile.EXT_EARLIEST_FILL and
# profile.EXT_CLARIFICATION_CODE, as on CarePlan activities) and on Communication.
_SD: Final = f"{BASE}/StructureDefinition/"
EXT_FILL_QUANTITY: Final = _SD + "fill-quantity"
EXT_FILL_DAYS_SUPPLY: Final = _SD + "fill-days-supply"
EXT_CONTACT_OUTCOME: Final = _SD + "contact-outcome"

# The check-in Questionnaire fhir-sync ships: its canonical URL and the version it writes.
QUESTIONNAIRE_CHECK_IN: Final = f"{BASE}/Questionnaire/med-sync-check-in"
QUESTIONNAIRE_CHECK_IN_VERSION: Final = "1"

TASK_CODE_PREPARE_FILLS: Final = "prepare-fills"
