"""Idle-firmware cost, runnable on CPython and inside MicroPython.

Boots the real BoxApp on the sim HAL and steps it like the board's main
loop does (every 1 ms of firmware time) for 10 s of firmware time.
Prints one JSON line: boot_us, tick_us (mean per loop pass), heap bytes
allocated per tick (MicroPython only, gc disabled while measuring).
"""
import gc
import json

from stopwatch import MICRO, elapsed_us, now_us  # noqa: E402  (bench/stopwatch.py)
import firmware  # noqa: F401
from firmware.app.box import BoxApp
from firmware.core.clock import SimClock
from firmware.hal.sim import make_sim_hal




def measure(sim_ms=10000, boots=50):
    t0 = now_us()
    for _ in range(boots):  # averaged: one boot is near the port's timer resolution
        clock = SimClock()
        hal = make_sim_hal(clock)
        app = BoxApp(hal)
        app.boot()
    boot_us = elapsed_us(t0) / boots
    port = hal.can["service"]
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc() if MICRO else 0
    t0 = now_us()
    for _ in range(sim_ms):
        clock.advance(1)
        app.step()
        if port.tx:
            port.tx.clear()   # the bench drains what the firmware sends
    total_us = elapsed_us(t0)
    heap = (gc.mem_alloc() - a0) if MICRO else 0
    gc.enable()
    return {"boot_us": boot_us, "tick_us": total_us / sim_ms, "heap_per_tick_bytes": heap / sim_ms,
            "ticks": sim_ms}


print(json.dumps(measure()))
