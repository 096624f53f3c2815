"""The power stage as the discharge rig steps it: 1 ms at a time.

`SwitchingPlant` implements the PowerPlant contract of
inverter/plant/averaged.py (contactors, DC nodes, IMD and fault injection
are the averaged plant's own; the DC/DC + inverter + load path is this
model, switching level or averaged, both around the real fast control law),
so a rig runs the same session on either:

    rig = DischargeRig(car=ChademoCar(), load_w=3000, stage=PowerStageModel("230_50"))

`PowerStageModel` is that power path alone:

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
from inverter.plant import averaged as AV
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
                ramp_ms=None, r_src=0.0):
        """v_set / i_ac_limit: PsInverterSetpoint AcVoltageSetpoint (split: line
        to line; 0 = inverter off; None = no frame yet: the profile's nominal)
        and AcCurrentLimit (0 keeps the rating); ramp_ms: SoftStartRamp;
        r_src: source resistance behind v_inlet (then v_inlet is the car's OCV)."""
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
            elif ramp >= 1.0 and sim.x[-1] >= 0.9 * HW.V_LINK_NOM_V and sim.ctl.state == FL.INV_OFF:
                sim.ctl.enable(True)
        else:
            self.t_on = -1
            sim.dcdc.on = False
            sim.ctl.enable(False)
            sim.x[-1] *= 0.95
        sim.source = (v_inlet, r_src)
        self._connect(relay, load_w)
        sim.run(0.001)
        ctl = sim.ctl
        self.i_inlet = sim.dcdc.i_in
        running = ctl.state == FL.INV_RUN
        # split phase: L1-L2 (the legs run at 180 deg), as AcVoltageRms reports it
        self.v_ac = sum(ctl.v_rms) if ctl.gates else 0.0
        self.i_ac = max(ctl.i_rms) if ctl.gates else 0.0
        self.p_ac = sum(ctl.p_w) if ctl.gates else 0.0
        self.f_ac = ctl.f_hz if ctl.gates else 0.0
        self.ready = running and self.v_ac * 100 >= self.v_nom * sim.nph * READY_PCT
        if ctl.state in (FL.INV_TRIP, FL.INV_LOCKOUT, FL.INV_SC_LATCH):
            self.dcdc_state = DCDC_FAULT
        elif self.ready:
            self.dcdc_state = DCDC_RUNNING
        elif self.t_on >= 0:
            self.dcdc_state = DCDC_STARTING
        else:
            self.dcdc_state = DCDC_OFF


_MS_PER_H = 3600000.0


class SwitchingPlant(AV.AveragedPlant):
    """The PowerPlant contract (inverter/plant/averaged.py) with the power
    path replaced by a PowerStageModel. PlantInputs may carry the inverter
    setpoints (ac_v_set, ac_i_limit, soft_start_ms); absent, the profile's
    nominal values apply."""

    def __init__(self, load_w=3000.0, stage=None):
        AV.AveragedPlant.__init__(self, load_w)
        self.stage = stage if stage is not None else PowerStageModel()

    def step_power(self, now, u, car_closed, car_ocv_v, car_r_ohm):
        st = self.stage
        e = (self.e_batt_wh, self.e_inlet_wh, self.e_dc_wh, self.e_ac_wh)
        # contactors, DC nodes, source, IMD, temperature: the averaged plant's
        AV.AveragedPlant.step_power(self, now, u, car_closed, car_ocv_v, car_r_ohm)
        self.e_batt_wh, self.e_inlet_wh, self.e_dc_wh, self.e_ac_wh = e
        path = self.kp and self.kn
        live = path and car_closed
        en = bool(u.ps_enable) and not self.short
        relay = bool(u.ac_relay) and not self.rcd_trip
        st.step_ms(now, live and en and not self.ps_fault, relay and self.backfeed_v <= 0,
                   car_ocv_v if live else 0.0, u.i_limit_a, self.load_w,
                   getattr(u, "ac_v_set", None), getattr(u, "ac_i_limit", 0.0) or 0.0,
                   getattr(u, "soft_start_ms", None), car_r_ohm)
        if self.short and live:
            self.i = AV.SHORT_A
        elif live:
            self.i = st.i_inlet + self.oc_offset
        else:
            self.i = 0.0
        if car_closed:
            self.v_inlet = car_ocv_v - car_r_ohm * self.i
            if path:
                self.v_link = self.v_inlet
        self.ps_ready = en and st.ready and not self.ps_fault
        if relay and self.backfeed_v > 0:
            self.v_ac, self.p_ac = self.backfeed_v, -1500.0
        elif relay and self.ps_ready:
            self.v_ac, self.p_ac = st.v_ac, st.p_ac
        else:
            self.v_ac, self.p_ac = self.backfeed_v, 0.0
        if live and self.i > 0:
            self.e_batt_wh += car_ocv_v * self.i / _MS_PER_H
            self.e_inlet_wh += self.v_inlet * self.i / _MS_PER_H
            self.e_dc_wh += st.sim.dcdc.p_out / _MS_PER_H
        if self.p_ac > 0:
            self.e_ac_wh += self.p_ac / _MS_PER_H

    def inverter_status(self, ac_on):
        """(AcVoltageRms, AcCurrentRms, AcFrequency, AcActivePower) as the power stage measures them."""
        st = self.stage
        return (min(st.v_ac, 400.0), min(st.i_ac, 100.0), st.f_ac,
                max(-15000.0, min(15000.0, self.p_ac)))
