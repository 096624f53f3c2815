"""Microsecond stopwatch for measurement scripts that run on both CPython
and MicroPython (time.ticks_us wraps, so differences go through ticks_diff)."""
import sys
import time

MICRO = sys.implementation.name == "micropython"


def now_us():
    if MICRO:
        return time.ticks_us()  # type: ignore[attr-defined]
    return time.perf_counter_ns() // 1000


def elapsed_us(t0):
    if MICRO:
        return time.ticks_diff(time.ticks_us(), t0)  # type: ignore[attr-defined]
    return now_us() - t0
