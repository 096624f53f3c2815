"""Device entry point (copied to the board as main.py): board HAL + app loop."""
import time

from firmware.app.box import BoxApp
from firmware.hal.board import make_board_hal


def run():
    app = BoxApp(make_board_hal(), discharge=True)
    app.boot()
    while True:
        t0 = time.ticks_us()
        app.step()
        app.account_busy_us(time.ticks_diff(time.ticks_us(), t0))
        time.sleep_ms(1)  # yields to IRQs; the scheduler's finest period is 10 ms


if __name__ == "__main__":
    run()
