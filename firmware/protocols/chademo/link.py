"""Wires a ChademoCharger onto a CanNode on the vehicle CAN port.

    outbox = Ring(16)
    core = ChademoCharger(outbox, box_limit_a=15)
    link = ChademoLink(core, port)          # port: a firmware.hal CanPort
    ... every few ms: link.poll(now_ms)     # RX -> core, core.step, TX per core flags
    ... drain outbox into the safety supervisor; feed grants, lines and
        measurements back into core

RX: 0x100/0x101/0x102/0x200 are supervised with the DBC timeouts (500 ms,
5 cycles); 0x110 and 0x201 are optional (Leafs rarely send 0x201, s7).
Supervision restarts at every session (CanNode starts it at the first frame),
so a car asleep between sessions raises nothing.
TX: 0x108 before 0x109 (s1), 0x208 before 0x209, enabled from the core's
`tx_main` / `tx_discharge` flags; values are filled by the core just
before each encode.
"""
from micropython import const

from firmware.can.gen import chademo
from firmware.can.node import CanNode
from firmware.core.ring import Ring

_EVENTS = const(16)


class ChademoLink:
    def __init__(self, core, port, node=None):
        self.core = core
        self.events = Ring(_EVENTS)
        self.node = node if node is not None else CanNode(port, events=self.events)
        n = self.node
        h = core.on_frame
        n.on_rx(chademo.ID_VehicleChargeLimits, chademo, h)
        n.on_rx(chademo.ID_VehicleChargingTime, chademo, h)
        n.on_rx(chademo.ID_VehicleStatus, chademo, h)
        n.on_rx(chademo.ID_VehicleDischargeLimits, chademo, h)
        n.on_rx(chademo.ID_VehicleExtendedFunctions, chademo, h, supervise=False)
        n.on_rx(chademo.ID_VehicleDischargeInfo, chademo, h, supervise=False)
        caps = {}
        core.fill_capabilities(0, caps)
        st = {}
        core.fill_status(0, st)
        ds = {}
        core.fill_discharge_status(0, ds)
        di = {}
        core.fill_discharge_info(0, di)
        n.add_tx(chademo.ID_ChargerCapabilities, chademo, caps, fill=core.fill_capabilities, enabled=False)
        n.add_tx(chademo.ID_ChargerStatus, chademo, st, fill=core.fill_status,
                 after=chademo.ID_ChargerCapabilities, enabled=False)
        n.add_tx(chademo.ID_ChargerDischargeStatus, chademo, ds, fill=core.fill_discharge_status,
                 after=chademo.ID_ChargerStatus, enabled=False)
        n.add_tx(chademo.ID_ChargerDischargeInfo, chademo, di, fill=core.fill_discharge_info,
                 after=chademo.ID_ChargerDischargeStatus, enabled=False)
        self._session = core.session
        self._main = False
        self._dis = False
        self._t_main = 0
        self._period = chademo.CYCLE_MS[chademo.ID_ChargerStatus]

    def poll(self, now_ms):
        core = self.core
        node = self.node
        node.poll(now_ms)
        ev = self.events
        while len(ev):
            kind, value = ev.get()
            core.can_event(kind, value)
        core.step(now_ms)
        if core.session != self._session:
            self._session = core.session
            node.unsupervise()
        m = core.tx_main
        if m != self._main:
            self._main = m
            self._t_main = now_ms
            node.set_tx_enabled(chademo.ID_ChargerCapabilities, m, now_ms)
            node.set_tx_enabled(chademo.ID_ChargerStatus, m, now_ms)
        d = core.tx_discharge
        if d != self._dis:
            self._dis = d
            # join the 0x108/0x109 slot (this pass's slot has gone): the first 0x208
            # follows the first 0x109 that carries the discharge flag
            p = self._period
            due = self._t_main + ((now_ms - self._t_main) // p + 1) * p if m else now_ms
            node.set_tx_enabled(chademo.ID_ChargerDischargeStatus, d, due)
            node.set_tx_enabled(chademo.ID_ChargerDischargeInfo, d, due)
