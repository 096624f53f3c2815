"""Service-CAN heartbeat (dbc/box.dbc BoxHeartbeat): proves the main loop
is alive to the technician tool. Sans-IO: `frame(now_ms)` returns the
payload; the app sends it."""
from firmware.app import version
from firmware.can.gen import box

ID = box.ID_BoxHeartbeat
PERIOD_MS = box.CYCLE_MS[box.ID_BoxHeartbeat]


class Heartbeat:
    def __init__(self):
        self.counter = 0
        self._values = {
            "UptimeS": 0,
            "AliveCounter": 0,
            "SessionState": 0,
            "FwVersionMajor": version.MAJOR,
            "FwVersionMinor": version.MINOR,
            "FaultActive": 0,
            "LoopLoadPct": 0,
        }

    def frame(self, now_ms, session_state, fault_active, load_pct):
        v = self._values
        v["UptimeS"] = now_ms / 1000
        v["AliveCounter"] = self.counter
        v["SessionState"] = session_state
        v["FaultActive"] = 1 if fault_active else 0
        v["LoopLoadPct"] = load_pct if load_pct <= 100 else 100
        self.counter = (self.counter + 1) & 0xFF
        return box.encode(ID, v)
