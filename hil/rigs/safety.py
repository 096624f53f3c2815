"""The safety rig: the real safety firmware (SafetyApp on the sim HAL) in the
one averaged plant (inverter.plant.averaged: contactors, precharge source
through a diode onto the open inlet, DC nodes, DC/DC + inverter with losses,
IMD, AC output), run in 1 ms steps of simulated time, with
- a car (CCS/DIN-style) with a pack, contactors, limits and a protocol
  stand-in that answers the handshake and closes its contactors once the
  inlet is within 20 V of the pack during PreCharge;
- the power stage's CAN reports written straight into Meas every 10 ms.
Faults are injected by setting attributes (see `inject`).
"""
from firmware.core.clock import SimClock
from firmware.hal.sim import make_sim_hal
from firmware.hal import pins
from firmware.app import safety_app as A
from firmware.safety import limits as L
from firmware.charging import table as T
from inverter.plant.averaged import PS_RAMP_A_PER_MS, PS_SOFT_START_MS, SHORT_A, AveragedPlant, PlantInputs

PACK_R_OHM = 0.1
HANDSHAKE_MS = 1000
CAR_OPEN_AFTER_STOP_MS = 300    # Ioniq waits 300 ms (ccs-nacs §6 row 11)
VEH_MSG_PERIOD_MS = 50
PS_MSG_PERIOD_MS = 10

FAULTS = ("estop", "isolation", "over_temp", "vehicle_link", "ps_link", "loop_stall",
          "backfeed", "rcd", "over_current", "short", "soc_floor", "min_voltage", "welded",
          # inputs that cannot be trusted (issue 8): one row per input class
          "v_sensor", "i_sensor", "i_reverse", "t_sensor", "t_stale", "imd_off", "soc_bad", "ac_sensor")
SLOW_MSG_PERIOD_MS = 100        # PsIsolation / PsTemperatures / PsFaults (power_stage.dbc)


class SafetyRig(AveragedPlant):
    def __init__(self, pack_v=400.0, soc=80, car_max_i=25.0, car_max_p=11000.0,
                 car_min_v=300.0, car_max_v=450.0, load_w=3000.0, car_closes_early=False):
        AveragedPlant.__init__(self, load_w)
        self.u = PlantInputs()
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.app = A.SafetyApp(self.hal)
        self.reboots = 0
        # car
        self.pack_v = pack_v
        self.soc = soc
        self.car_max_i = car_max_i
        self.car_max_p = car_max_p
        self.car_min_v = car_min_v
        self.car_max_v = car_max_v
        self.car_closed = False
        # CHAdeMO-like: the car closes its contactors at 0 V right after the
        # handshake, so the box must bring its own link up to the pack
        self.car_closes_early = car_closes_early
        # V2H: the home's transfer switch isolates the utility (interlock made)
        self.v2h_interlock = True
        self.tx_max_i = -1.0     # limits as last sent over the vehicle link
        self.tx_max_p = -1.0
        self.plugged = False
        self.proto_on = False
        self.link_up = False
        self.proto_t0 = -1
        self.stop_t0 = -1
        self.hs_done = False
        # injected faults (the power path's own are AveragedPlant's)
        self.estop = False
        self.link_dead = False
        self.ps_dead = False
        self.stalled = False
        self.v_sensor_bad = False   # inlet voltage sensor shorted to the rail: ADC full scale
        self.i_nan = False          # the stage reports NaN current
        self.short_rev = False      # the stage pushes 60 A into the car
        self.t_open = False         # inlet temperature sensor open: 0 mV (-50 degC)
        self.t_stale = False        # the stage stops sending its temperatures
        self.imd_off = False        # the IMD reports "not measuring"
        self.soc_bad = False        # the car reports SoC 255
        self.ac_nan = False         # the inverter reports NaN AC power
        # observations
        self.opens = []          # (t, |i| at the opening command, emergency count after)
        self.closes = []         # (t, |v_inlet - v_link| at the closing command)
        self.fault_onset = -1
        self.injected = None
        self.onset_energised = False
        self._env = 0.0
        self._prev_k = 0
        self._emerg = 0

    # ------------------------------------------------------------ user / car inputs
    def plug(self, on=True):
        self.plugged = on
        if not on:
            self.link_up = False
            self.hs_done = False

    def start(self):
        self.app.session.post(T.EV_START)

    def stop(self):
        self.app.session.post(T.EV_STOP)

    def inject(self, fault):
        now = self.clock.now_ms()
        self.fault_onset = now
        self.injected = fault
        if fault == "estop":
            self.estop = True
            self._write_inputs()
            self.app.estop_irq(now)          # the pin's falling-edge interrupt
            self._edges(now)
        elif fault == "isolation":
            self.iso_bad = True
        elif fault == "over_temp":
            self.heating = True
            self.temp = max(self.temp, 80.0)
            self.fault_onset = -1            # onset is when T_STOP_C is crossed
        elif fault == "vehicle_link":
            self.link_dead = True
        elif fault == "ps_link":
            self.ps_dead = True
        elif fault == "loop_stall":
            self.stalled = True
        elif fault == "backfeed":
            self.backfeed_v = 120.0
        elif fault == "rcd":
            self.rcd_trip = True
        elif fault == "over_current":
            self.oc_offset = 25.0
            self.fault_onset = -1            # onset when the excess current flows
        elif fault == "short":
            self.short = True
            self.fault_onset = -1            # onset when short-circuit current flows
        elif fault == "soc_floor":
            self.soc = self.app.sup.soc_floor_pct
        elif fault == "min_voltage":
            self.pack_v = self.car_min_v + L.V_MIN_MARGIN_V / 2
            if not self.car_closed:
                self.fault_onset = -1        # onset when the pack shows on the inlet
        elif fault == "welded":
            self.welded = True
            self.kp = True
        elif fault == "v_sensor":
            self.v_sensor_bad = True
        elif fault == "i_sensor":
            self.i_nan = True
        elif fault == "i_reverse":
            self.short_rev = True
            self.fault_onset = -1            # onset when the reverse current flows
        elif fault == "t_sensor":
            self.t_open = True
        elif fault == "t_stale":
            self.t_stale = True
        elif fault == "imd_off":
            self.imd_off = True
            if not self._closed_path():
                self.fault_onset = -1        # onset when the DC path closes (the IMD matters then)
        elif fault == "soc_bad":
            self.soc_bad = True
        elif fault == "ac_sensor":
            self.ac_nan = True
        else:
            raise ValueError(fault)

    def _closed_path(self):
        return self.out("K_DC_POS") == 1

    # ------------------------------------------------------------ simulation
    def run(self, ms, check=None):
        for _ in range(ms):
            self.step()
            if check is not None:
                check(self)

    def run_until(self, pred, max_ms, check=None):
        for _ in range(max_ms):
            if pred(self):
                return True
            self.step()
            if check is not None:
                check(self)
        return pred(self)

    def out(self, role):
        return self.hal.gpio[role].level

    def step(self):
        now = self.clock.now_ms()
        self._physics(now)
        self._write_inputs()
        self._can_inputs(now)
        app = self.app
        if not self.stalled and now % L.SUPERVISOR_PERIOD_MS == 0:
            acts = app.tick(now)
            self._protocol_actions(now, acts)
        if now % L.MONITOR_PERIOD_MS == 5:
            app.monitor(now)
        self._edges(now)
        if self.hal.wdt.expired():
            self._reboot()
        self.clock.advance(1)

    def _edges(self, now):
        k = self.out("K_DC_POS")
        if k != self._prev_k:
            if k:
                self.closes.append((now, abs(self.v_inlet - self.v_link)))
            else:
                self.opens.append((now, abs(self.i), self.app.sup.emergency_opens, self._emerg))
            self._prev_k = k
        self._emerg = self.app.sup.emergency_opens

    def _reboot(self):
        # an MCU reset drives every output pin low; the firmware starts afresh
        for role in pins.GPIO_OUT:
            self.hal.gpio[role].value(0)
        self.stalled = False
        self.reboots += 1
        self.app = A.SafetyApp(self.hal, A.RESET_WATCHDOG)
        self._prev_k = 0
        self._emerg = 0
        self.proto_on = False
        self.link_up = False
        self.hs_done = False
        self.stop_t0 = self.clock.now_ms()

    def _protocol_actions(self, now, acts):
        s = self.app.session
        s.set_plugged(self.plugged)
        if acts & T.A_PROTO_START:
            self.proto_on = True
            self.link_up = True          # the car keeps talking until the session ends
            self.proto_t0 = now
            self.hs_done = False
            self.stop_t0 = -1
        if acts & T.A_PROTO_STOP:
            self.proto_on = False
            self.stop_t0 = now
        if self.proto_on and not self.hs_done and not self.link_dead and now - self.proto_t0 >= HANDSHAKE_MS:
            self.hs_done = True
            s.post(T.EV_HANDSHAKE_DONE)

    def _physics(self, now):
        g = self.hal.gpio
        cmd = self.app.sup.cmd
        # the car: closes during PreCharge when the inlet matches, opens after a stop
        st = self.app.session.state
        if not self.car_closed and self.proto_on and self.hs_done and (
                self.car_closes_early or (
                    st == T.PRECHARGE and abs(self.v_inlet - self.pack_v) < L.V_MATCH_MAX_V)):
            self.car_closed = True
        if self.car_closed and ((self.stop_t0 >= 0 and now - self.stop_t0 >= CAR_OPEN_AFTER_STOP_MS)
                                or not self.plugged):
            self.car_closed = False
        u = self.u
        u.k_pos = g["K_DC_POS"].level == 1
        u.k_neg = g["K_DC_NEG"].level == 1
        u.src_on = g["K_PRECHARGE"].level == 1
        u.src_v = cmd.pre_target_v
        u.discharge = g["DC_DISCHARGE"].level == 1
        u.ps_enable = g["PS_ENABLE"].level == 1
        u.i_limit_a = cmd.i_limit_a
        u.ac_relay = g["AC_OUT_RELAY"].level == 1
        self.step_power(now, u, self.car_closed, self.pack_v, PACK_R_OHM)
        if self.short_rev and self.kp and self.kn and self.car_closed and u.ps_enable:
            self.i = -SHORT_A                   # the stage pushes current into the car
        # what the stage may legitimately carry: the limit, falling no faster than 100 A/s
        self._env = max(cmd.i_limit_a, self._env - PS_RAMP_A_PER_MS)
        if self.fault_onset < 0 and self.injected is not None:
            f = self.injected
            if (f == "short" and self.i >= SHORT_A) or (f == "min_voltage" and self.car_closed) or (
                    f == "i_reverse" and self.i <= -SHORT_A) or (f == "imd_off" and self._closed_path()) or (
                    f == "over_current" and self.i > self._env + L.OC_MARGIN_A):
                self.fault_onset = now
                self.onset_energised = self._energised()
        if self.heating:
            if self.fault_onset < 0 and self.temp >= L.T_STOP_C:
                self.fault_onset = now
                self.onset_energised = self._energised()

    def _energised(self):
        g = self.hal.gpio
        return any(g[r].level for r in ("K_DC_POS", "K_DC_NEG", "K_PRECHARGE", "PS_ENABLE", "AC_OUT_RELAY"))


    def _write_inputs(self):
        h = self.hal
        h.adc["V_INLET"].mv = 3300 if self.v_sensor_bad else self.v_inlet * 1000 / pins.ADC["V_INLET"][1]
        h.adc["V_LINK"].mv = self.v_link * 1000 / pins.ADC["V_LINK"][1]
        h.adc["V_AC_OUT"].mv = self.v_ac * 1000 / pins.ADC["V_AC_OUT"][1]
        h.adc["T_INLET"].mv = 0 if self.t_open else 500 + self.temp * 10
        h.gpio["ESTOP"].level = 1 if self.estop else 0       # logical: 1 = E-stop asserted
        # the RCD trips on a fault or on its own test current (RCD_TEST) and
        # re-arms once the test current is removed
        h.gpio["RCD_OK"].level = 0 if self.rcd_trip or h.gpio["RCD_TEST"].level else 1
        h.gpio["V2H_INTERLOCK"].level = 1 if self.v2h_interlock else 0
        h.gpio["K_DC_POS_AUX"].level = 1 if self.kp else 0
        h.gpio["K_DC_NEG_AUX"].level = 1 if self.kn else 0

    def _can_inputs(self, now):
        """Stand-in for the power-stage CAN decoder and the protocol stacks."""
        m = self.app.m
        if not self.ps_dead:
            if now % PS_MSG_PERIOD_MS == 0:
                m.ps_seen_ms = m.inv_seen_ms = now
            if now % SLOW_MSG_PERIOD_MS == 5:
                m.iso_seen_ms = m.ps_faults_seen_ms = now
                if not self.t_stale:
                    m.t_stage_seen_ms = now
            m.i_dc = float("nan") if self.i_nan else self.i
            m.p_ac = float("nan") if self.ac_nan else self.p_ac
            m.t_stage = self.temp
            m.ps_ready = self.ps_on_t >= 0 and now - self.ps_on_t >= PS_SOFT_START_MS
            m.ps_fault = False
        m.iso_ohm = self.iso_ohm if self.plugged and not self.imd_off else -1
        talking = self.link_up and self.plugged and not self.link_dead
        if talking and now % VEH_MSG_PERIOD_MS == 0:
            m.veh_seen_ms = now
        if talking and self.hs_done:
            m.veh_max_i = self.tx_max_i = self.car_max_i
            m.veh_max_p = self.tx_max_p = self.car_max_p
            m.veh_min_v = self.car_min_v
            m.veh_max_v = self.car_max_v
            m.veh_target_v = self.pack_v
            m.veh_soc = 255 if self.soc_bad else int(self.soc)
            m.veh_closed = self.car_closed
        elif not self.link_up:
            m.veh_closed = self.car_closed
            m.veh_soc = -1


def to_supplying(plant, max_ms=10000):
    """Plug, start and run until the box supplies the AC load."""
    plant.plug()
    plant.run(20)
    plant.start()
    ok = plant.run_until(lambda p: p.app.session.state == T.SUPPLYING and p.out("AC_OUT_RELAY"), max_ms)
    return ok
