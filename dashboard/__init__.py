"""The dashboard: a FastAPI app with a JSON API (OpenAPI, API tokens) and server-rendered
GOV.UK Design System pages for housing officers, telecare responders and admins.

It reads time series from InfluxDB and alerts from the alert store, and writes only what people
do (acknowledge, assign, resolve, notes, duties), accounts and the audit log.
"""
