"""Start the node this device's config names (env or telecare), with any platform overlay."""

from lib import config


def run(board) -> None:  # type: ignore[no-untyped-def]
    cfg = config.load_file(board.config_path())
    overlay = config.load_overlay(board.state_path("remote.json"))
    for key in overlay:
        if key == "fall":
            cfg["fall"].update(overlay["fall"])
        else:
            cfg[key] = overlay[key]
    if cfg.get("pins") and hasattr(board, "pins"):
        board.pins.update(cfg["pins"])  # this board's wiring, before any pin is made
    if cfg["kind"] == "telecare":
        from telecare import TelecareNode

        TelecareNode(board, cfg).run()
    else:
        from envnode import EnvNode

        EnvNode(board, cfg).run()
