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

    def irq_now_ms(self):
        """Same as now_ms (simulated time never moves inside an interrupt)."""
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

    Interrupt safety: the (ms, last ticks) pair lives in two slots; the main
    context writes the idle slot and publishes it with one store of the
    slot index, so an interrupt arriving at any point of `now_ms()` reads a
    consistent pair. Interrupt handlers call `irq_now_ms()`, which writes
    nothing (no allocation while the count fits a small int, ~12 days).
    """

    def __init__(self, read, diff):
        self._read = read
        self._diff = diff
        t = read()
        self._ms = [0, 0]
        self._last = [t, t]
        self._i = 0

    def now_ms(self):
        """Main context only: advances the published pair."""
        i = self._i
        t = self._read()
        ms = self._ms[i] + self._diff(t, self._last[i])
        j = 1 - i
        self._ms[j] = ms
        self._last[j] = t
        self._i = j
        return ms

    def irq_now_ms(self):
        """From an interrupt (E-stop pin, stall-monitor timer): read-only."""
        i = self._i
        return self._ms[i] + self._diff(self._read(), self._last[i])
