"""The rules engine: readings and events in, alerts for people out."""
