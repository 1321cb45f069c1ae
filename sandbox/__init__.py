"""Local stand-ins for PagerDuty, Slack and the Novalien platform API, on one HTTPS port.

`python -m sandbox` runs it; `sandbox.testing.running_sandbox` runs it inside tests. One module
per external system (pagerduty, slack, platform), named like the activity modules that call them.
"""
