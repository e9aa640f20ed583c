"""The notifier: responder alerts in the alert store -> escalation -> people, and back to devices.

It meets the rest of the platform only through the alert store (jobs, attempts and tokens in
`hof.alertstore.notifications`) and MQTT (device notices). `hof notify` runs it; docs/notify.md.
"""
