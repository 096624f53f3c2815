"""The demo session as a scenario for the discharge rig (hil.rigs.discharge)."""
from firmware.charging import table as T


class DischargeScenario:
    """The demo session: plug at t_plug, start at t_start, supply the load for
    supply_ms, user stop, unplug once ReadyToUnplug. Use as `bench.script`."""

    def __init__(self, t_plug=500, t_start=1000, supply_ms=8000, unplug_after_ms=1000):
        self.t_plug = t_plug
        self.t_start = t_start
        self.supply_ms = supply_ms
        self.unplug_after_ms = unplug_after_ms
        self.phase = 0
        self._t = 0

    def __call__(self, b):
        now = b.now
        if self.phase == 0 and now >= self.t_plug:
            b.plug()
            self.phase = 1
        elif self.phase == 1 and now >= self.t_start:
            b.start()
            self.phase = 2
        elif self.phase == 2 and b.state == T.SUPPLYING:
            self._t = now
            self.phase = 3
        elif self.phase == 3 and now - self._t >= self.supply_ms:
            b.stop()
            self.phase = 4
        elif self.phase == 4 and b.state == T.READY_TO_UNPLUG:
            self._t = now
            self.phase = 5
        elif self.phase == 5 and now - self._t >= self.unplug_after_ms:
            b.plug(False)
            self.phase = 6
