"""The simulated estate: homes whose sensors publish realistic readings (`hof simulate`)."""

__all__: list[str] = []
