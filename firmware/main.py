"""Entry point on the board (and on the Unix port): run the node; a simulated deep sleep
unwinds to here and starts it again, as the ESP32's wake-up does."""

import otaboot

otaboot.select()  # first: the image it picks (base or an installed update) supplies the rest

import gc

import app
from hal import board
from hal.base import DeepSleep


def main() -> None:
    b = board()
    while True:
        gc.collect()
        try:
            app.run(b)
        except DeepSleep:
            continue


main()
