"""The edge of the CHAdeMO stack: moves frames between a vehicle CAN port
(a firmware.hal CanPort) and the sans-IO ChademoAdapter (adapter.py).

    core = ChademoCharger(Ring(16), box_limit_a=15)
    link = ChademoLink(core, hal.can["vehicle"])   # builds the adapter
    ... every few ms: link.poll(now_ms)

RX: 0x100/0x101/0x102/0x200 are supervised with the DBC timeouts (500 ms,
5 cycles); 0x110 and 0x201 are optional (Leafs rarely send 0x201, s7).
Supervision restarts at every session (it starts at the first frame), so a
car asleep between sessions raises nothing.
TX: 0x108 before 0x109 (s1), 0x208 before 0x209, enabled from the core's
`tx_main` / `tx_discharge` flags; values are filled by the core just
before each encode.
"""
from firmware.protocols.chademo.adapter import ChademoAdapter


class ChademoLink:
    def __init__(self, core, can_port, charging_port=None):
        self.core = core
        self.can = can_port
        self.adapter = ChademoAdapter(core, charging_port)
        self.node = self.adapter.node     # counters and TX values, for tests and status

    def poll(self, now_ms):
        a = self.adapter
        can = self.can
        a.set_bus_state(can.state())
        fr = can.recv()
        while fr is not None:
            a.receive(fr, now_ms)
            fr = can.recv()
        a.handle_timer(now_ms)
        if a.wire.restart_req:
            a.wire.restart_req = False
            can.restart()
        for fid, data in a.to_send(now_ms):
            if not can.send(fid, data, False):
                break
