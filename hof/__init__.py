"""House of the Future: the small core shared by every service (contract, settings, stack, CLI)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
