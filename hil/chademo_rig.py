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

BLEED_FACTOR_PER_100MS = 0.83   # ccs32clara voltage bleed while helping welding detection (reference s6 #13)


class BenchSupervisor:
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
        if kind == ch.A_INSULATION_TEST:
            self.ins = False
        if kind == ch.A_DISCHARGE_LIMIT:
            self.limit_a = value
            return
        delay = self.delay_ms
        if kind == ch.A_PRECHARGE and value:
            delay = self.precharge_ms
        elif kind == ch.A_INSULATION_TEST and value:
            self.ins = True
            delay = self.insulation_ms
        self.pending.append((now + delay, kind, value))

    def _sensible(self, kind, value):
        if not value:
            return True
        inlet = self.plant.inlet_v if self.plant is not None else 0.0
        if kind == ch.A_D2:
            return self.d1 and self.lock and inlet < 20          # 0 V on the inlet for d2 (s6 #7)
        if kind == ch.A_BOX_CONTACTORS:
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
            if kind == ch.A_INSULATION_TEST:
                self.ins = False
                if value and not self.insulation_ok:
                    self.core.deny(kind, value)
                    continue
            self._apply(kind, value)
            self.core.grant(kind, value)
        self.pending = keep

    def _apply(self, kind, value):
        if kind == ch.A_D1:
            self.d1 = bool(value)
        elif kind == ch.A_D2:
            self.d2 = bool(value)
        elif kind == ch.A_LOCK:
            self.lock = bool(value)
        elif kind == ch.A_BOX_CONTACTORS:
            self.box = bool(value)
        elif kind == ch.A_PRECHARGE:
            self.precharge_v = value
        elif kind == ch.A_BLEED:
            self.bleed = bool(value)


class Plant:
    """Inlet voltage and discharge current. Current follows the
    supervisor's limit (capped by the AC load) at `ramp_a_per_s` while both
    sides' contactors are closed; the inlet shows the battery through the
    car's contactors, else the DC link (box contactors closed) or decays."""

    def __init__(self, load_a=100.0, ramp_a_per_s=50.0, insulation_test_v=500.0):
        self.load_a = load_a
        self.ramp = ramp_a_per_s
        self.insulation_test_v = insulation_test_v
        self.inlet_v = 0.0
        self.current = 0.0
        self.v_offset = 0.0      # measurement errors (fault injection)
        self.i_offset = 0.0

    def step(self, dt_ms, car, sup):
        closed = car.contactors_closed
        if closed and sup.box:
            target = min(float(sup.limit_a), self.load_a)
            step = self.ramp * dt_ms / 1000.0
            if self.current < target:
                self.current = min(target, self.current + step)
            else:
                self.current = max(target, self.current - step)
        else:
            self.current = 0.0
        if closed:
            self.inlet_v = car.terminal_v(self.current)
        elif sup.ins:
            self.inlet_v = self.insulation_test_v
        else:
            f = BLEED_FACTOR_PER_100MS if (sup.bleed or not sup.box) else 0.995
            self.inlet_v *= f ** (dt_ms / 100.0)
            if self.inlet_v < 0.5:
                self.inlet_v = 0.0


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
        self.sup = BenchSupervisor(self.core, **(sup_kw or {}))
        self.plant = Plant(**(plant_kw or {}))
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
