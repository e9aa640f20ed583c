"""Ingest: readings and events from the platform broker, validated, batched into InfluxDB."""
