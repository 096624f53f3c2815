"""Service-CAN heartbeat (dbc/box.dbc BoxHeartbeat): proves the main loop
is alive to the technician tool. Sans-IO: `fill(now_ms, values)` updates
the frame's signal dict just before the CAN node encodes it.

The frame is registered raw (scaling=False): uptime goes out as an integer
count of 0.01 s, exact for its whole range on single-precision floats."""
from firmware.app import version
from firmware.can.gen import box

ID = box.ID_BoxHeartbeat
_UPTIME_RAW_MAX = 0xFFFFFFFF  # 32-bit field: saturates after ~497 days


class Heartbeat:
    def __init__(self, status):
        self._status = status   # object with session_state, fault_active, load_pct
        self.counter = 0
        self.values = {
            "UptimeS": 0,
            "AliveCounter": 0,
            "SessionState": 0,
            "FwVersionMajor": version.MAJOR,
            "FwVersionMinor": version.MINOR,
            "FaultActive": 0,
            "LoopLoadPct": 0,
        }

    def fill(self, now_ms, v):
        st = self._status
        up = now_ms // 10
        v["UptimeS"] = up if up < _UPTIME_RAW_MAX else _UPTIME_RAW_MAX
        v["AliveCounter"] = self.counter
        v["SessionState"] = st.session_state
        v["FaultActive"] = 1 if st.fault_active else 0
        v["LoopLoadPct"] = st.load_pct if st.load_pct <= 100 else 100
        self.counter = (self.counter + 1) & 0xFF
