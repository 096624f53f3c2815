"""A minimal scripted CHAdeMO car + instant supervisor + plant, small
enough to run inside MicroPython (the full simulated car lives in hil/,
CPython only). Used by tests/device/test_chademo_*.py and by
bench/chademo_step.py.

The car: sends 0x100/0x102/0x200 every 100 ms while d1 is closed, enables
(b0 + k) 500 ms after d1 once it has seen 0x109, closes its contactors
500 ms after d2, allows 15 A discharge 200 ms later, and on the charger's
stop control (after charging) sets 0 A and opens 300 ms after <= 5 A.
"""
import firmware  # noqa: F401
from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from firmware.protocols.chademo.charger import ChademoCharger
from firmware.protocols.chademo.link import ChademoLink
from firmware.core.ring import Ring
from firmware.hal.sim import SimCanPort


class ScriptedEv:
    def __init__(self, battery_v=380, soc=60, max_discharge_a=15):
        self.battery_v = battery_v
        self.max_a = max_discharge_a
        self.t_d1 = -1
        self.t_d2 = -1
        self.t_closed = -1
        self.t_low = -1
        self.next_tx = 0
        self.enabled = 0
        self.closed = False
        self.stopping = False
        self.seen_charging = False
        self.seen_109 = False
        self.allowed = 0
        self.lim = {"MinChargeCurrent": 0, "MaxChargeCurrent": 0, "MinBatteryVoltage": 250,
                    "MaxBatteryVoltage": 435, "ChargedRateReference": 100}
        self.st = {"ProtocolNumber": 2, "TargetBatteryVoltage": 410, "ChargingCurrentRequest": 0,
                   "FaultBatteryOverVoltage": 0, "FaultBatteryUnderVoltage": 0, "FaultBatteryCurrentDeviation": 0,
                   "FaultHighBatteryTemperature": 0, "FaultBatteryVoltageDeviation": 0,
                   "StatusChargingEnabled": 0, "StatusShiftNotPark": 0, "StatusChargingSystemFault": 0,
                   "StatusContactorOpen": 1, "StatusNormalStopRequest": 0, "StatusBit6": 0,
                   "StatusDischargeCompatible": 1, "ChargedRate": soc}
        self.dis = {"MaxDischargeCurrent": 0, "MinDischargeVoltage": 250, "MinBatteryDischargeLevel": 10,
                    "MaxRemainingCapacityForCharging": 100}
        self.b100 = bytearray(8)
        self.b102 = bytearray(8)
        self.b200 = bytearray(8)
        self.rx = {}

    def k(self):
        return self.enabled == 1

    def receive(self, fid, data):
        if fid == chademo.ID_ChargerStatus:
            self.seen_109 = True
            v = chademo.decode_into(fid, data, self.rx)
            if v["StatusCharging"] and not v["StatusChargingStopControl"]:
                self.seen_charging = True
            elif self.seen_charging:
                self.stopping = True

    def step(self, now, d1, d2, current, port):
        if not d1:
            self.t_d1 = -1
            self.enabled = 0
            self.closed = False
            return
        if self.t_d1 < 0:
            self.t_d1 = now
            self.next_tx = now + 100
        if not self.enabled and self.seen_109 and now - self.t_d1 >= 500:
            self.enabled = 1
        if d2 and self.enabled and not self.closed and not self.stopping:
            if self.t_d2 < 0:
                self.t_d2 = now
            elif now - self.t_d2 >= 500:
                self.closed = True
                self.t_closed = now
        if not d2:
            self.closed = False
            self.t_d2 = -1
        if self.closed and not self.stopping and now - self.t_closed >= 200:
            self.allowed = self.max_a
        if self.stopping:
            self.allowed = 0
            if self.closed and current <= 5:
                if self.t_low < 0:
                    self.t_low = now
                elif now - self.t_low >= 300:
                    self.closed = False
                    self.enabled = 0
        if now >= self.next_tx:
            self.next_tx += 100
            self.st["StatusChargingEnabled"] = self.enabled
            self.st["StatusContactorOpen"] = 0 if self.closed else 1
            self.dis["MaxDischargeCurrent"] = self.allowed
            port.inject(chademo.ID_VehicleChargeLimits,
                        chademo.encode_into(chademo.ID_VehicleChargeLimits, self.lim, self.b100))
            port.inject(chademo.ID_VehicleStatus, chademo.encode_into(chademo.ID_VehicleStatus, self.st, self.b102))
            port.inject(chademo.ID_VehicleDischargeLimits,
                        chademo.encode_into(chademo.ID_VehicleDischargeLimits, self.dis, self.b200))


class MiniRig:
    """Core + link + scripted car + a supervisor that grants at once."""

    def __init__(self, **ev_kw):
        self.port = SimCanPort()
        self.outbox = Ring(16)
        self.core = ChademoCharger(self.outbox, box_limit_a=30)
        self.link = ChademoLink(self.core, self.port)
        self.ev = ScriptedEv(**ev_kw)
        self.now = 0
        self.out = {}            # kind -> latest requested value
        self.actions = []
        self.inlet = 0
        self.current = 0
        self.ins = False
        self.plugged = True
        self.wire = None         # set to a list to record (id, data, current) sent by the charger

    def tick(self, dt=10, record=True):
        self.now += dt
        now = self.now
        core = self.core
        ev = self.ev
        out = self.out
        d1 = out.get(ch.RQ_D1, 0)
        ev.step(now, d1, out.get(ch.RQ_D2, 0), self.current, self.port)
        core.set_plug(self.plugged)
        core.set_permission(ev.k() and d1)
        core.measure(self.inlet, self.current)
        self.link.poll(now)
        port = self.port
        while port.tx:
            fid, data, _ = port.tx.pop(0)
            ev.receive(fid, data)
            if self.wire is not None:
                self.wire.append((fid, data, self.current))
        ob = self.outbox
        while len(ob):
            kind, value = ob.get()
            out[kind] = value
            if record:
                self.actions.append((kind, value))
            if kind != ch.RQ_DISCHARGE_LIMIT:
                core.grant(kind, value)
        # plant: battery on the inlet through the car's contactors; current follows the limit
        if ev.closed:
            self.inlet = ev.battery_v
            lim = out.get(ch.RQ_DISCHARGE_LIMIT, 0) if out.get(ch.RQ_BOX_CONTACTORS, 0) else 0
            self.current = lim if lim < self.current + 1 else self.current + 1
        else:
            self.current = 0
            self.inlet = self.inlet * 8 // 10
