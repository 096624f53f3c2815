"""The power stage as the discharge bench steps it: 1 ms at a time.

This is the interface the bench's averaged PowerPlant (hil/bench.py, moving
to inverter/plant/ with issue 9) delegates its electrical power path to, so
the same discharge session runs on the original ramp model or on this one
(switching level or averaged, both around the real fast control law):

    st = PowerStageModel(profile="230_50", averaged=False)
    st.step_ms(now_ms, enabled, relay, v_inlet, i_limit_a, load_w)
    st.i_inlet  st.ready  st.v_ac  st.i_ac  st.p_ac  st.f_ac  st.dcdc_state  st.temp_c

enabled: hardware enable AND EnableDcDc; relay: AC output relay closed (the
load is connected only then); v_inlet: the car's terminal voltage;
i_limit_a: PsDcDcSetpoint.InletCurrentLimit; load_w: resistive load at
nominal voltage (bench.load_w), or set `loads` for any inverter/plant load.
"""
from inverter import params as HW
from inverter.controller import fastloop as FL
from inverter.plant import loads as LD
from inverter.plant import switching as S

DCDC_OFF, DCDC_STARTING, DCDC_RUNNING, DCDC_FAULT = 0, 1, 2, 5   # power_stage.dbc DcDcState
LINK_RAMP_MS = 100            # DC/DC soft start of the secondary link (team)
READY_PCT = 90
STANDBY_A = 1.0               # inlet current the DC/DC may take with a zero limit, to charge its own
                              # secondary link and run the inverter unloaded (< I_BREAK_MAX_A = 2 A, team)


class PowerStageModel:
    def __init__(self, profile="230_50", averaged=False, p_rated=HW.P_RATED_W, ramp_ms=200):
        self.sim = S.InverterSim(profile, averaged=averaged, p_rated=p_rated, ramp_ms=ramp_ms, enable=False)
        self.sim.x[-1] = 0.0
        self.sim.dcdc.on = False
        self.v_nom = self.sim.v_nom
        self.f_nom = self.sim.f_nom
        self._load_w = None
        self._load = None
        self.extra_loads = []        # inverter/plant/loads objects connected behind the relay
        self._relay = False
        self.t_on = -1
        self.i_inlet = 0.0
        self.ready = False
        self.v_ac = self.i_ac = self.p_ac = self.f_ac = 0.0
        self.dcdc_state = DCDC_OFF
        self.temp_c = 30.0

    def _connect(self, relay, load_w):
        if relay == self._relay and load_w == self._load_w:
            return
        self._relay, self._load_w = relay, load_w
        sim = self.sim
        sim.loads = []
        if relay:
            if load_w > 0:
                n = sim.nph
                for p in range(n):
                    sim.loads.append(LD.Resistive(load_w / n, sim.v_nom).at(p))
            sim.loads.extend(self.extra_loads)
        sim._update_loads()

    def step_ms(self, now_ms, enabled, relay, v_inlet, i_limit_a, load_w, v_set=None, i_ac_limit=0.0,
                ramp_ms=None):
        """v_set / i_ac_limit: PsInverterSetpoint AcVoltageSetpoint (split: line
        to line; 0 = inverter off; None = no frame yet: the profile's nominal)
        and AcCurrentLimit (0 keeps the rating); ramp_ms: SoftStartRamp."""
        sim = self.sim
        if ramp_ms is not None and ramp_ms > 0:
            sim.ctl.ramp_s = ramp_ms / 1000.0
        inverter_on = v_set is None or v_set > 0
        if v_set is not None and v_set > 0:
            sim.ctl.set_output(v_set / sim.nph, sim.f_nom)
        if i_ac_limit > 0:
            sim.ctl.set_current_limit(i_ac_limit)
        if enabled and v_inlet > 50.0:
            if self.t_on < 0:
                self.t_on = now_ms
                sim.dcdc.on = True
            ramp = min(1.0, (now_ms - self.t_on) / LINK_RAMP_MS)
            sim.dcdc.v_ref = HW.V_LINK_NOM_V * ramp
            if sim.x[-1] < 2.0:
                sim.x[-1] = 2.0      # the DC/DC's own precharge of the secondary
            sim.dcdc.i_in_limit = i_limit_a if i_limit_a > STANDBY_A else STANDBY_A
            if not inverter_on:
                sim.ctl.enable(False)
            elif ramp >= 1.0 and sim.x[-1] >= 0.9 * HW.V_LINK_NOM_V and sim.ctl.state == FL.ST_OFF:
                sim.ctl.enable(True)
        else:
            self.t_on = -1
            sim.dcdc.on = False
            sim.ctl.enable(False)
            sim.x[-1] *= 0.95
        sim.source = (v_inlet, 0.0)
        self._connect(relay, load_w)
        sim.run(0.001)
        ctl = sim.ctl
        self.i_inlet = sim.dcdc.i_in
        running = ctl.state == FL.ST_RUN
        # split phase: L1-L2 (the legs run at 180 deg), as AcVoltageRms reports it
        self.v_ac = sum(ctl.v_rms) if ctl.gates else 0.0
        self.i_ac = max(ctl.i_rms) if ctl.gates else 0.0
        self.p_ac = sum(ctl.p_w) if ctl.gates else 0.0
        self.f_ac = ctl.f_hz if ctl.gates else 0.0
        self.ready = running and self.v_ac * 100 >= self.v_nom * sim.nph * READY_PCT
        if ctl.state in (FL.ST_TRIP, FL.ST_LOCKOUT, FL.ST_SC_LATCH):
            self.dcdc_state = DCDC_FAULT
        elif self.ready:
            self.dcdc_state = DCDC_RUNNING
        elif self.t_on >= 0:
            self.dcdc_state = DCDC_STARTING
        else:
            self.dcdc_state = DCDC_OFF
