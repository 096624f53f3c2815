"""Clocks. Firmware never reads time itself: a clock object is passed in.

`SimClock` is driven by the bench/tests (deterministic, faster than real
time). The board clock lives in `firmware.hal.board` (time.ticks_ms based).
All clocks return a monotonic integer millisecond count that never wraps
(MicroPython ints are unbounded), so cores can subtract times directly.
"""


class SimClock:
    def __init__(self, start_ms=0):
        self._ms = start_ms

    def now_ms(self):
        return self._ms

    def advance(self, ms):
        if ms < 0:
            raise ValueError("time cannot go backwards")
        self._ms += ms

    def set(self, ms):
        if ms < self._ms:
            raise ValueError("time cannot go backwards")
        self._ms = ms


class TicksUnwrapper:
    """Turns a wrapping ticks counter (time.ticks_ms) into a monotonic count.

    `diff(a, b)` is time.ticks_diff on the device; polling must happen at
    least once per half wrap period (~6 days at 30-bit ticks), which the
    scheduler's idle loop guarantees.
    """

    def __init__(self, read, diff):
        self._read = read
        self._diff = diff
        self._last = read()
        self._ms = 0

    def now_ms(self):
        t = self._read()
        self._ms += self._diff(t, self._last)
        self._last = t
        return self._ms
