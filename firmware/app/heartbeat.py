"""Service-CAN heartbeat (dbc/box.dbc BoxHeartbeat): proves the main loop
is alive to the technician tool. Sans-IO: `frame(now_ms, ...)` returns the
payload; the app sends it. Encoded raw (scaling=False) into one reused
buffer, so a heartbeat allocates nothing and needs no float."""
from firmware.app import version
from firmware.can.gen import box

ID = box.ID_BoxHeartbeat
PERIOD_MS = box.CYCLE_MS[box.ID_BoxHeartbeat]
_UPTIME_RAW_MAX = 0xFFFFFFFF  # 32-bit field, 0.01 s per bit: saturates after ~497 days


class Heartbeat:
    def __init__(self):
        self.counter = 0
        self._buf = bytearray(8)
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
        up = now_ms // 10
        v["UptimeS"] = up if up < _UPTIME_RAW_MAX else _UPTIME_RAW_MAX
        v["AliveCounter"] = self.counter
        v["SessionState"] = session_state
        v["FaultActive"] = 1 if fault_active else 0
        v["LoopLoadPct"] = load_pct if load_pct <= 100 else 100
        self.counter = (self.counter + 1) & 0xFF
        return box.encode_into(ID, v, self._buf, False)
