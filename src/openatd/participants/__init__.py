"""Case management: participants, caseloads, devices and zones."""
