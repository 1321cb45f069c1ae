"""The signal endpoint: starts handovers over HTTP, takes people's inputs (actor from their token),
relays Slack and PagerDuty events to the workflow, and serves the handover console."""
