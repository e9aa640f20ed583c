"""The home gateway: local broker in, durable store-and-forward, uplink to the platform."""

__all__: list[str] = []
