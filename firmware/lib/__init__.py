"""Device-side libraries that know no hardware: MQTT, SenML packs, buffers, config."""
