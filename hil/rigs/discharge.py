"""The discharge bench in simulated time: the REAL box firmware (BoxApp
with discharge=True: CHAdeMO core + glue + SafetyApp + power-stage link +
service status) on the sim HAL, with

  vehicle CAN   the simulated CHAdeMO car (hil.vehicles.chademo_car), its
                d1/d2/k/proximity lines on the sim GPIOs;
  internal CAN  PowerStageSim: the power stage answering dbc/power_stage.dbc
                (DC/DC drawing current from the inlet to feed the AC load,
                inverter soft start, IMD, temperatures, faults) and the
                electrical plant (box contactors with aux contacts,
                precharge / cable-check source, DC-link discharge, inlet
                bleed, connector lock) driving V_INLET/V_LINK/V_AC_OUT;
  service CAN   left to the caller (tests drain it, SimBox bridges it).

    b = DischargeRig(car=ChademoCar(soc=60), load_w=3000)
    b.plug(); b.start()
    b.run_until(lambda b: b.state == T.SUPPLYING, 30000)

The physics are the one averaged plant (inverter/plant/averaged.py), the
car's battery is its Battery. One step = 1 ms; the firmware runs
its scheduler whenever a task is due. Nothing reads the wall clock.
"""
from firmware.app.box import BoxApp
from firmware.can.gen import power_stage as ps
from firmware.core.clock import SimClock
from firmware.hal import pins
from firmware.hal.sim import make_sim_hal
from firmware.charging import table as T
from hil.vehicles.chademo_car import ChademoCar
from inverter.plant.averaged import AC_V_RMS, AveragedPlant, PlantInputs


class PowerStageSim(AveragedPlant):
    """The averaged plant (inverter.plant.averaged) behind the power stage's
    internal CAN: commands and setpoints from the box's frames, status frames
    back, plus the box's GPIO coils and sensors."""

    def __init__(self, hal, load_w=3000.0):
        AveragedPlant.__init__(self, load_w)
        self.hal = hal
        self.rcd_dead = False       # an RCD that no longer trips on its test current
        self.v2h_interlock = False  # V2H transfer switch isolating the utility (contact made)
        self.port = hal.can["internal"]
        self.u = PlantInputs()
        self.cmd = {}               # latest decoded box frames by id
        self._alive = 0
        self.silent = False         # power stage stops talking
        self.mute = ()              # frame ids the stage stops sending (the rest keeps coming)
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

    def step(self, now, car_closed, car_ocv_v, car_r_ohm):
        u = self.u
        u.k_pos = self._out("K_DC_POS")
        u.k_neg = self._out("K_DC_NEG")
        u.lock = self._out("LOCK_MOTOR")
        # power stage: hardware enable line AND the CAN command
        u.ps_enable = self._out("PS_ENABLE") and self._get(ps.ID_PsCommand, "EnableDcDc") == 1
        u.i_limit_a = self._get(ps.ID_PsDcDcSetpoint, "InletCurrentLimit", 0.0)
        u.ac_relay = self._out("AC_OUT_RELAY")
        u.src_on = self._out("K_PRECHARGE") and self._get(ps.ID_PsCommand, "EnableSource") == 1
        u.src_v = self._get(ps.ID_PsSourceSetpoint, "SourceVoltageSetpoint", 0.0)
        u.discharge = self._out("DC_DISCHARGE")
        u.ac_v_set = self._get(ps.ID_PsInverterSetpoint, "AcVoltageSetpoint", AC_V_RMS)
        u.ac_hz_set = self._get(ps.ID_PsInverterSetpoint, "AcFrequencySetpoint", 50.0)
        u.ac_i_limit = self._get(ps.ID_PsInverterSetpoint, "AcCurrentLimit", 0.0)
        u.soft_start_ms = self._get(ps.ID_PsInverterSetpoint, "SoftStartRamp", None)
        self.step_power(now, u, car_closed, car_ocv_v, car_r_ohm)
        self._write_inputs()
        if not self.silent:
            self._send(now, self.ps_ready, u.ps_enable)

    def _write_inputs(self):
        h = self.hal
        h.adc["V_INLET"].mv = self.v_inlet * 1000 / pins.ADC["V_INLET"][1]
        h.adc["V_LINK"].mv = self.v_link * 1000 / pins.ADC["V_LINK"][1]
        h.adc["V_AC_OUT"].mv = self.v_ac * 1000 / pins.ADC["V_AC_OUT"][1]
        h.adc["T_INLET"].mv = 500 + 25 * 10
        h.gpio["K_DC_POS_AUX"].level = 1 if self.kp else 0
        h.gpio["K_DC_NEG_AUX"].level = 1 if self.kn else 0
        h.gpio["LOCK_FB"].level = 1 if self.lock else 0
        # the RCD trips on its own test current (RCD_TEST) and re-arms when it
        # is removed (rcd_dead: an RCD that no longer trips); the V2H transfer
        # switch's interlock contact
        h.gpio["RCD_OK"].level = 1 if self.rcd_dead or not h.gpio["RCD_TEST"].level else 0
        h.gpio["V2H_INTERLOCK"].level = 1 if self.v2h_interlock else 0

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
            v, i, f, p = self.inverter_status(ac_on)
            self._tx(ps.ID_PsInverterStatus, {
                "AcVoltageRms": v, "AcCurrentRms": i, "AcFrequency": f, "AcActivePower": p})
        if now % 100 == 5:
            k = self.iso_ohm // 1000
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


def _on_stage(hal, load_w, stage):
    """PowerStageSim on the switching-level / averaged power path of issue 12
    (inverter.plant.stage.SwitchingPlant, same PowerPlant contract)."""
    from inverter.plant.stage import SwitchingPlant
    cls = type("PowerStageSimOnStage", (PowerStageSim, SwitchingPlant), {})
    p = cls(hal, load_w)
    p.stage = stage
    return p


class DischargeRig:
    def __init__(self, car=None, load_w=3000.0, clock=None, hal=None, collect_service=True, stage=None):
        self.clock = clock or SimClock()
        self.hal = hal or make_sim_hal(self.clock)
        self.app = BoxApp(self.hal, discharge=True)
        self.car = car if car is not None else ChademoCar()
        # stage: an inverter.plant.stage.PowerStageModel to run on instead of the averaged plant
        self.plant = PowerStageSim(self.hal, load_w) if stage is None else _on_stage(self.hal, load_w, stage)
        self.vport = self.hal.can["vehicle"]
        self.plugged = False
        self.load_profile = None    # fn(t_ms) -> W, overrides load_w when set
        self.hooks = []             # (t_ms, fn(bench)) run once at t_ms
        self.script = None          # fn(bench) called every step (scenarios)
        self.states = []            # (t_ms, session state) transitions
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

    @property
    def ac_energy_wh(self):
        """Delivered to the load (plant side)."""
        return self.plant.e_ac_wh

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
        plant.step(now, car.contactors_closed, car.battery.ocv(), car.battery.r)
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
