"""The discharge bench in simulated time: the REAL box firmware (BoxApp
with discharge=True: CHAdeMO core + glue + SafetyApp + power-stage link +
service status) on the sim HAL, with

  vehicle CAN   the simulated CHAdeMO car (hil.vehicles.chademo_car), its
                d1/d2/k/proximity lines on the sim GPIOs;
  internal CAN  PowerPlant: the power stage answering dbc/power_stage.dbc
                (DC/DC drawing current from the inlet to feed the AC load,
                inverter soft start, IMD, temperatures, faults) and the
                electrical plant (box contactors with aux contacts,
                precharge / cable-check source, DC-link discharge, inlet
                bleed, connector lock) driving V_INLET/V_LINK/V_AC_OUT;
  service CAN   left to the caller (tests drain it, SimBox bridges it).

    b = Bench(car=ChademoCar(soc=60), load_w=3000)
    b.plug(); b.start()
    b.run_until(lambda b: b.state == T.SUPPLYING, 30000)

The physics follow hil/safety_plant.py (same constants) with the car's
side taken from the CHAdeMO car model. One step = 1 ms; the firmware runs
its scheduler whenever a task is due. Nothing reads the wall clock.
"""
from firmware.app.box import BoxApp
from firmware.can.gen import power_stage as ps
from firmware.core.clock import SimClock
from firmware.hal import pins
from firmware.hal.sim import make_sim_hal
from firmware.charging import table as T
from hil.safety_plant import PS_RAMP_A_PER_MS, PS_SOFT_START_MS, toward  # same physics
from hil.vehicles.chademo_car import ChademoCar

CONTACTOR_MS = 15               # pull-in / drop-out
LOCK_MS = 50
DCDC_EFFICIENCY = 0.95
INLET_BLEED_PER_MS = 0.99       # inlet bleeder, tau ~100 ms
ISO_GOOD_KOHM = 2000
ISO_BAD_KOHM = 50


class PowerPlant:
    """Power stage on the internal CAN + the box's electrical plant."""

    def __init__(self, hal, load_w=3000.0):
        self.hal = hal
        self.port = hal.can["internal"]
        self.load_w = load_w
        self.v_inlet = 0.0
        self.v_link = 0.0
        self.i = 0.0
        self.v_ac = 0.0
        self.p_ac = 0.0
        self.temp = 30.0
        self.kp = self.kn = False
        self._kt = {"kp": -1, "kn": -1}
        self.lock = False
        self._lock_t = -1
        self.ps_on_t = -1
        self.cmd = {}               # latest decoded box frames by id
        self._alive = 0
        # fault injection
        self.silent = False         # power stage stops talking
        self.mute = ()              # frame ids the stage stops sending (the rest keeps coming)
        self.iso_bad = False
        self.ps_fault = False
        self.welded = False
        self.backfeed_v = 0.0
        self.sent = 0

    def _out(self, role):
        return self.hal.gpio[role].level == 1

    def receive(self):
        for fid, data, _ext in self.port.drain():
            try:
                self.cmd[fid] = ps.decode(fid, data)
            except ps.CodecError:
                pass

    def _get(self, fid, sig, default=0):
        v = self.cmd.get(fid)
        return default if v is None else v[sig]

    def step(self, now, car_closed, car_v):
        g = self.hal.gpio
        # contactors with aux contacts (a welded one stays closed)
        for attr, role in (("kp", "K_DC_POS"), ("kn", "K_DC_NEG")):
            want = g[role].level == 1
            if getattr(self, attr) != want:
                t = self._kt[attr]
                if t < 0:
                    self._kt[attr] = now
                elif now - t >= CONTACTOR_MS and not (attr == "kp" and self.welded and not want):
                    setattr(self, attr, want)
                    self._kt[attr] = -1
            else:
                self._kt[attr] = -1
        lock = self._out("LOCK_MOTOR")
        if lock != self.lock:
            if self._lock_t < 0:
                self._lock_t = now
            elif now - self._lock_t >= LOCK_MS:
                self.lock = lock
                self._lock_t = -1
        else:
            self._lock_t = -1
        path = self.kp and self.kn
        # power stage: hardware enable line AND the CAN command
        en = self._out("PS_ENABLE") and self._get(ps.ID_PsCommand, "EnableDcDc") == 1
        if en:
            if self.ps_on_t < 0:
                self.ps_on_t = now
        else:
            self.ps_on_t = -1
        ready = en and now - self.ps_on_t >= PS_SOFT_START_MS and not self.ps_fault
        relay = self._out("AC_OUT_RELAY")
        if path and car_closed and en:
            limit = self._get(ps.ID_PsDcDcSetpoint, "InletCurrentLimit", 0.0)
            demand = 0.0
            if relay and ready and self.v_inlet > 50:
                demand = self.load_w / (DCDC_EFFICIENCY * self.v_inlet)
            target = min(limit, demand)
            if self.i < target:
                self.i = min(target, self.i + PS_RAMP_A_PER_MS)
            else:
                self.i = max(target, self.i - PS_RAMP_A_PER_MS)
        else:
            self.i *= 0.5
            if self.i < 0.01:
                self.i = 0.0
        # voltages
        src = self._out("K_PRECHARGE") and self._get(ps.ID_PsCommand, "EnableSource") == 1
        mode = self._get(ps.ID_PsSourceSetpoint, "SourceMode")
        tgt = self._get(ps.ID_PsSourceSetpoint, "SourceVoltageSetpoint", 0.0)
        disch = self._out("DC_DISCHARGE")
        if car_closed:
            self.v_inlet = car_v
        if path:
            if car_closed:
                self.v_link = self.v_inlet
            else:
                self.v_link = self.v_inlet = toward(self.v_link, tgt, src, disch)
        else:
            self.v_link = toward(self.v_link, tgt, src, disch)
            if not car_closed:
                if src and mode == ps.SourceMode_CableCheck:
                    self.v_inlet = self.v_link      # the test voltage is applied to the cable
                else:
                    self.v_inlet *= INLET_BLEED_PER_MS
                    if self.v_inlet < 0.5:
                        self.v_inlet = 0.0
        # AC output
        if relay and self.backfeed_v > 0:
            self.v_ac, self.p_ac = self.backfeed_v, -1500.0
        elif relay and ready:
            self.v_ac = 230.0
            self.p_ac = min(self.load_w, self.i * self.v_inlet * DCDC_EFFICIENCY)
        else:
            self.v_ac, self.p_ac = self.backfeed_v, 0.0
        self._write_inputs()
        if not self.silent:
            self._send(now, ready, en)


    def _write_inputs(self):
        h = self.hal
        h.adc["V_INLET"].mv = self.v_inlet * 1000 / pins.ADC["V_INLET"][1]
        h.adc["V_LINK"].mv = self.v_link * 1000 / pins.ADC["V_LINK"][1]
        h.adc["V_AC_OUT"].mv = self.v_ac * 1000 / pins.ADC["V_AC_OUT"][1]
        h.adc["T_INLET"].mv = 500 + 25 * 10
        h.gpio["K_DC_POS_AUX"].level = 1 if self.kp else 0
        h.gpio["K_DC_NEG_AUX"].level = 1 if self.kn else 0
        h.gpio["LOCK_FB"].level = 1 if self.lock else 0

    def _tx(self, fid, values):
        if fid in self.mute:
            return
        self.port.inject(fid, ps.encode(fid, values))
        self.sent += 1

    def _send(self, now, ready, en):
        if now % 10 == 0:
            if self.ps_fault:
                st = ps.DcDcState_Fault
            elif ready:
                st = ps.DcDcState_Running
            elif en:
                st = ps.DcDcState_Starting
            else:
                st = ps.DcDcState_Off
            self._tx(ps.ID_PsDcDcStatus, {
                "InletVoltage": min(self.v_inlet, 1000), "InletCurrent": self.i,
                "DcLinkVoltage": min(self.v_link, 900), "DcDcState": st, "DcDcDerating": 0,
                "AliveCounter": self._alive})
            self._alive = (self._alive + 1) & 15
            ac_on = ready and self._get(ps.ID_PsCommand, "EnableInverter") == 1
            self._tx(ps.ID_PsInverterStatus, {
                "AcVoltageRms": 230.0 if ac_on else 0.0,
                "AcCurrentRms": min(abs(self.p_ac) / 230.0, 100), "AcFrequency": 50.0 if ac_on else 0.0,
                "AcActivePower": self.p_ac})
        if now % 100 == 5:
            k = ISO_BAD_KOHM if self.iso_bad else ISO_GOOD_KOHM
            self._tx(ps.ID_PsIsolation, {
                "IsolationResistancePos": k, "IsolationResistanceNeg": k,
                "IsolationState": ps.IsolationState_Fault if self.iso_bad else ps.IsolationState_Valid,
                "ImdSelfTestOk": 1, "ImdTestVoltage": min(self.v_link, 1100)})
            t = self.temp
            self._tx(ps.ID_PsTemperatures, {
                "TempDcDcPrimary": t, "TempDcDcSecondary": t, "TempTransformer": t,
                "TempInverterBridge": t, "TempAcFilter": t, "TempPscMcu": t, "FanDuty": 0})
            self._tx(ps.ID_PsFaults, {
                "FaultWordDcDc": 1 if self.ps_fault else 0, "FaultWordInverter": 0, "FaultWordSource": 0,
                "FaultCount": 1 if self.ps_fault else 0, "SafeState": 0})


class Bench:
    def __init__(self, car=None, load_w=3000.0, clock=None, hal=None, collect_service=True):
        self.clock = clock or SimClock()
        self.hal = hal or make_sim_hal(self.clock)
        self.app = BoxApp(self.hal, discharge=True)
        self.car = car if car is not None else ChademoCar()
        self.plant = PowerPlant(self.hal, load_w)
        self.vport = self.hal.can["vehicle"]
        self.plugged = False
        self.load_profile = None    # fn(t_ms) -> W, overrides load_w when set
        self.hooks = []             # (t_ms, fn(bench)) run once at t_ms
        self.script = None          # fn(bench) called every step (scenarios)
        self.states = []            # (t_ms, session state) transitions
        self.ac_energy_wh = 0.0     # delivered to the load (plant side)
        self.max_p_ac = 0.0
        self.car_frames_dropped = False
        self.stalled = False        # main loop hung (the timer-interrupt stall monitor still runs)
        self._booted = False
        # service CAN: collected here (t_ms, id, data) unless a bridge (SimBox) drains the port
        self.collect_service = collect_service
        self.service_log = []

    # ------------------------------------------------------------ user
    def boot(self):
        if not self._booted:
            self.app.boot()
            self._booted = True
            self.states.append((self.now, self.app.power.safety.session.state))

    def plug(self, on=True):
        self.plugged = on

    def start(self):
        self.app.start()

    def stop(self):
        self.app.stop()

    def at(self, t_ms, fn):
        self.hooks.append((t_ms, fn))

    # ------------------------------------------------------------ fault hooks
    def estop(self):
        self.hal.gpio["ESTOP"].level = 1     # logical: asserted (the loop is open)
        self.app.estop_irq(self.now)     # the pin's falling-edge interrupt

    def stall_firmware(self):
        self.stalled = True

    def silence_car(self):
        self.car.silence()

    # ------------------------------------------------------------ views
    @property
    def now(self):
        return self.clock.now_ms()

    @property
    def state(self):
        return self.app.power.safety.session.state

    def state_names(self):
        return [T.STATE_NAMES[s] for _, s in self.states]

    def service_frames(self, since_ms=0):
        """Decoded service-CAN frames [(t_ms, id, values)] sent at or after since_ms."""
        from firmware.can.gen import box
        return [(t, f, box.decode(f, d)) for t, f, d in self.service_log if t >= since_ms]

    def out(self, role):
        return self.hal.gpio[role].level

    # ------------------------------------------------------------ simulation
    def step(self):
        """Advance one millisecond: plant, car, then the firmware tasks due."""
        self.boot()
        now = self.now
        for h in list(self.hooks):
            if h[0] <= now:
                self.hooks.remove(h)
                h[1](self)
        if self.script is not None:
            self.script(self)
        car, plant, g = self.car, self.plant, self.hal.gpio
        if self.load_profile is not None:
            plant.load_w = self.load_profile(now)
        frames = car.step(now, g["CHADEMO_D1"].level == 1, g["CHADEMO_D2"].level == 1, plant.i)
        if not self.car_frames_dropped:
            for fid, data in frames:
                self.vport.inject(fid, data)
        plant.receive()
        plant.step(now, car.contactors_closed, car.terminal_v(plant.i))
        g["CHADEMO_K"].level = 1 if car.k else 0
        g["CHADEMO_PROX"].level = 1 if self.plugged else 0
        car.check_welding(plant.v_inlet, now)
        while not self.stalled and self.app.next_wake_ms() <= now:
            self.app.step()
        if now % 10 == 5:           # hardware timer (MONITOR_PERIOD_MS): the stall monitor
            self.app.power.safety.monitor(now)
        for fid, data, _ext in self.vport.drain():
            car.receive(fid, data, now)
        if self.collect_service:
            for fid, data, _ext in self.hal.can["service"].drain():
                self.service_log.append((now, fid, data))
        if plant.p_ac > 0:
            self.ac_energy_wh += plant.p_ac / 3600000.0
            if plant.p_ac > self.max_p_ac:
                self.max_p_ac = plant.p_ac
        st = self.state
        if st != self.states[-1][1]:
            self.states.append((now, st))
        self.clock.advance(1)

    def run(self, ms):
        for _ in range(ms):
            self.step()

    def run_until(self, pred, max_ms):
        for _ in range(max_ms):
            if pred(self):
                return True
            self.step()
        return pred(self)


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
