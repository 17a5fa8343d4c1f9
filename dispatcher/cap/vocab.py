"""CAP 1.2 value lists, in the standard's order, and the rankings dispatch uses."""
from __future__ import annotations

STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE = ("Public", "Restricted", "Private")
CATEGORY = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
            "Transport", "Infra", "CBRNE", "Other")
RESPONSE_TYPE = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
                 "AllClear", "None")
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

#: Higher is more severe.
SEVERITY_RANK = {"Unknown": 0, "Minor": 1, "Moderate": 2, "Severe": 3, "Extreme": 4}
#: Higher is more urgent; an event already past ranks just above one of unknown timing.
URGENCY_RANK = {"Unknown": 0, "Past": 1, "Future": 2, "Expected": 3, "Immediate": 4}
#: Higher is more certain.
CERTAINTY_RANK = {"Unknown": 0, "Unlikely": 1, "Possible": 2, "Likely": 3, "Observed": 4}

#: msgTypes that act on earlier messages and so must name them in <references>.
NEEDS_REFERENCES = ("Update", "Cancel", "Ack", "Error")
