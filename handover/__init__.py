"""Shared domain of the on-call handover service: models, settings, errors and pure decisions.

Everything here is safe to import from workflow code: no I/O at import time.
"""

TASK_QUEUE = "oncall-handover"
