"""CHAdeMO bench rig in simulated time: the firmware's ChademoCharger +
ChademoLink on a SimCanPort, the simulated car (hil.vehicles.chademo_car),
a stand-in safety supervisor that grants every sensible request, and a
small plant model for the inlet voltage and the discharge current.

    rig = ChademoRig(car=ChademoCar(soc=60))
    rig.plug(); rig.core.start()
    rig.run_until(lambda r: r.core.state == S_DISCHARGING, 20000)

Everything advances in fixed ticks (default 10 ms) of one simulated clock;
nothing here sleeps or reads the wall clock.
"""
from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from firmware.protocols.chademo.charger import ChademoCharger
from firmware.protocols.chademo.link import ChademoLink
from firmware.core.ring import Ring
from firmware.hal.sim import SimCanPort
from hil.vehicles.chademo_car import ChademoCar
from inverter.plant.averaged import AveragedPlant, PlantInputs



class StandInSupervisor:
    """Stand-in for the box's safety supervisor: applies requests after
    `delay_ms` and confirms them, refusing only the obviously out-of-order
    ones (d2 without d1 + lock or with voltage on the inlet, box contactors
    without d2 + a matched precharge).
    `deny` / `ignore`: kinds, or (kind, value) pairs, to refuse / never
    confirm (fault injection)."""

    def __init__(self, core, delay_ms=20, precharge_ms=200, insulation_ms=300, insulation_ok=True,
                 deny=(), ignore=()):
        self.core = core
        self.delay_ms = delay_ms
        self.precharge_ms = precharge_ms
        self.insulation_ms = insulation_ms
        self.insulation_ok = insulation_ok
        self.deny_kinds = set(deny)
        self.ignore_kinds = set(ignore)
        self.d1 = self.d2 = self.lock = self.box = self.bleed = self.ins = False
        self.precharge_v = 0
        self.limit_a = 0
        self.pending = []          # (due_ms, kind, value)
        self.refused = []          # (kind, value) refused as out of order
        self.plant = None          # set by the rig: the supervisor sees the real inlet voltage

    def request(self, kind, value, now):
        # a request supersedes whatever of the same kind is still pending (latest wins)
        self.pending = [p for p in self.pending if p[1] != kind]
        if kind == ch.RQ_INSULATION_TEST:
            self.ins = False
        if kind == ch.RQ_DISCHARGE_LIMIT:
            self.limit_a = value
            return
        delay = self.delay_ms
        if kind == ch.RQ_PRECHARGE and value:
            delay = self.precharge_ms
        elif kind == ch.RQ_INSULATION_TEST and value:
            self.ins = True
            delay = self.insulation_ms
        self.pending.append((now + delay, kind, value))

    def _sensible(self, kind, value):
        if not value:
            return True
        inlet = self.plant.inlet_v if self.plant is not None else 0.0
        if kind == ch.RQ_D2:
            return self.d1 and self.lock and inlet < 20          # 0 V on the inlet for d2 (s6 #7)
        if kind == ch.RQ_BOX_CONTACTORS:
            return self.d2 and self.precharge_v > 0 and inlet > 50 and abs(self.precharge_v - inlet) < 20
        return True

    def step(self, now):
        keep = []
        for due, kind, value in self.pending:
            if due > now:
                keep.append((due, kind, value))
                continue
            if kind in self.ignore_kinds or (kind, value) in self.ignore_kinds:
                continue
            denied = kind in self.deny_kinds or (kind, value) in self.deny_kinds
            if denied or not self._sensible(kind, value):
                if not denied:
                    self.refused.append((kind, value))
                self.core.deny(kind, value)
                continue
            if kind == ch.RQ_INSULATION_TEST:
                self.ins = False
                if value and not self.insulation_ok:
                    self.core.deny(kind, value)
                    continue
            self._apply(kind, value)
            self.core.grant(kind, value)
        self.pending = keep

    def _apply(self, kind, value):
        if kind == ch.RQ_D1:
            self.d1 = bool(value)
        elif kind == ch.RQ_D2:
            self.d2 = bool(value)
        elif kind == ch.RQ_LOCK:
            self.lock = bool(value)
        elif kind == ch.RQ_BOX_CONTACTORS:
            self.box = bool(value)
        elif kind == ch.RQ_PRECHARGE:
            self.precharge_v = value
        elif kind == ch.RQ_BLEED:
            self.bleed = bool(value)


class StandInPlant(AveragedPlant):
    """The one averaged plant (inverter.plant.averaged) seen through the
    stand-in supervisor: its grants are the coils and the source, the AC load
    is `load_a` at the inlet voltage (default: more than any limit, so the
    current follows the limit). Stepped in 1 ms steps inside each rig tick."""

    def __init__(self, load_a=100.0, insulation_test_v=500.0):
        AveragedPlant.__init__(self, 0.0)
        self.u = PlantInputs()
        self.load_a = load_a
        self.insulation_test_v = insulation_test_v
        self.v_offset = 0.0      # measurement errors (fault injection)
        self.i_offset = 0.0
        self._t = 0

    @property
    def inlet_v(self):
        return self.v_inlet

    @property
    def current(self):
        return self.i

    def step(self, dt_ms, car, sup):
        u = self.u
        u.k_pos = u.k_neg = u.ps_enable = u.ac_relay = sup.box
        u.src_on = bool(sup.ins or sup.precharge_v > 0)
        u.src_v = self.insulation_test_v if sup.ins else float(sup.precharge_v)
        u.discharge = sup.bleed or not sup.box
        u.i_limit_a = float(sup.limit_a)
        u.lock = sup.lock
        bat = car.battery
        for _ in range(dt_ms):
            self.load_w = self.load_a * max(self.v_inlet, 1.0)
            self.step_power(self._t, u, car.contactors_closed, bat.ocv(), bat.r)
            self._t += 1


class ChademoRig:
    def __init__(self, car=None, core_kw=None, sup_kw=None, plant_kw=None, dt_ms=10, outbox=16):
        self.now = 0
        self.dt = dt_ms
        self.port = SimCanPort()
        self.outbox = Ring(outbox)
        kw = {"box_limit_a": 30}
        kw.update(core_kw or {})
        self.core = ChademoCharger(self.outbox, **kw)
        self.link = ChademoLink(self.core, self.port)
        self.car = car if car is not None else ChademoCar()
        self.sup = StandInSupervisor(self.core, **(sup_kw or {}))
        self.plant = StandInPlant(**(plant_kw or {}))
        self.sup.plant = self.plant
        self.plugged = False
        self.actions = []        # (ms, kind, value) as emitted by the core
        self.states = [(0, self.core.state_name())]
        self.tx = []             # (ms, id, data) sent by the charger
        self.rx = []             # (ms, id, data) sent by the car
        self.max_current = 0.0
        self.hooks = []          # fn(rig) called every tick (fault injection at given times)
        self.drop_ids = set()    # car frames lost on the way
        self.k_override = None   # force the j input (True/False) regardless of the car

    def plug(self, present=True):
        self.plugged = present

    def tick(self):
        self.now += self.dt
        now = self.now
        car, core, sup, plant = self.car, self.core, self.sup, self.plant
        for fn in self.hooks:
            fn(self)
        for fid, data in car.step(now, sup.d1, sup.d2, plant.current):
            if fid in self.drop_ids:
                continue
            self.port.inject(fid, data)
            self.rx.append((now, fid, data))
        core.set_plug(self.plugged)
        core.set_permission((car.k and sup.d1) if self.k_override is None else self.k_override)
        core.measure(plant.inlet_v + plant.v_offset, max(0.0, plant.current + plant.i_offset))
        self.link.poll(now)
        for fid, data, _ext in self.port.drain():
            car.receive(fid, data, now)
            self.tx.append((now, fid, data))
        while len(self.outbox):
            kind, value = self.outbox.get()
            self.actions.append((now, kind, value))
            sup.request(kind, value, now)
        sup.step(now)
        plant.step(self.dt, car, sup)
        car.check_welding(plant.inlet_v, now)
        if plant.current > self.max_current:
            self.max_current = plant.current
        name = core.state_name()
        if name != self.states[-1][1]:
            self.states.append((now, name))

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.tick()

    def run_until(self, cond, max_ms):
        end = self.now + max_ms
        while self.now < end:
            self.tick()
            if cond(self):
                return True
        return False

    def state_names(self):
        return [s for _, s in self.states]

    def tx_ids(self):
        return [fid for _, fid, _ in self.tx]

    def decoded_tx(self, fid):
        return [(t, chademo.decode(fid, d)) for t, f, d in self.tx if f == fid]
