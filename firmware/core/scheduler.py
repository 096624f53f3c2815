"""Cooperative scheduler: periodic tasks run from one loop, no threads.

The table of tasks is fixed at start-up (preallocated lists), so `tick()`
allocates nothing. A task is `fn(now_ms)`; it must return quickly (a few
ms at most on the MCU; budgets are measured in `make bench`).
If the loop falls behind by more than a period, a task is re-phased from
now instead of bursting to catch up: periodic CAN traffic must not bunch.
"""
from micropython import const

_MAX_TASKS_DEFAULT = const(24)


class Scheduler:
    def __init__(self, clock, max_tasks=_MAX_TASKS_DEFAULT):
        self.clock = clock
        self._fns = []
        self._period = []
        self._due = []
        self._names = []
        self._max = max_tasks
        self.overruns = 0  # times a task was re-phased because the loop was late

    def every(self, period_ms, fn, name="", phase_ms=0):
        """Register `fn(now_ms)` to run every `period_ms`; returns its index."""
        if period_ms <= 0:
            raise ValueError("period must be > 0 ms")
        if len(self._fns) >= self._max:
            raise ValueError("scheduler task table full")
        self._fns.append(fn)
        self._period.append(period_ms)
        self._due.append(self.clock.now_ms() + phase_ms)
        self._names.append(name)
        return len(self._fns) - 1

    def tick(self):
        """Run every task that is due now. Returns how many ran."""
        now = self.clock.now_ms()
        ran = 0
        due = self._due
        period = self._period
        fns = self._fns
        for i in range(len(fns)):
            if now >= due[i]:
                fns[i](now)
                ran += 1
                nxt = due[i] + period[i]
                if nxt <= now:
                    nxt = now + period[i]
                    self.overruns += 1
                due[i] = nxt
        return ran

    def next_due_ms(self):
        """Earliest due time of any task (the sim bench advances time to it)."""
        if not self._due:
            return None
        return min(self._due)

    def names(self):
        return list(self._names)
