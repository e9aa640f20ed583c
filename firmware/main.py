"""Entry point on the board (and on the Unix port): run the node; a simulated deep sleep
unwinds to here and starts it again, as the ESP32's wake-up does."""

import otaboot

otaboot.select()  # first: the image it picks (base or an installed update) supplies the rest


def main() -> None:
    # Imported here, inside the guard below: a broken image may fail at its imports.
    import gc

    import app
    from hal import board
    from hal.base import DeepSleep

    b = board()
    while True:
        gc.collect()
        try:
            app.run(b)
        except DeepSleep:
            continue


try:
    main()
except Exception as exc:
    otaboot.crashed(exc)  # reset, not the REPL: the boot counts, a trial image rolls back
