"""Power-stage link on the internal CAN (dbc/power_stage.dbc). Sans-IO.

TX (every 10 ms): PsCommand, PsDcDcSetpoint, PsInverterSetpoint and
PsSourceSetpoint, filled from the supervisor's Cmd and the session intent.
RX: PsDcDcStatus / PsInverterStatus / PsIsolation / PsTemperatures /
PsFaults into the supervisor's Meas, each with its own arrival time
(ps_seen_ms, inv_seen_ms, iso_seen_ms, t_stage_seen_ms, ps_faults_seen_ms):
the supervisor judges every value's age, so a frame that stops arriving is
never trusted with its last value. A silent stage latches F_PS_LINK after
PS_LINK_TIMEOUT_MS; the CanNode RX timeout of the status
frame also drops `ps_ready` at once. Without the link there is no fresh
current reading (Meas.ps_seen_ms ages): the supervisor treats it as unknown
and opens through its hardware-cut path.
"""
from micropython import const

from firmware.can.gen import power_stage as ps
from firmware.can.node import NODE_RX_TIMEOUT, CanNode
from firmware.core.ring import Ring
from firmware.safety import supervisor as sv
from inverter.controller import supervisory as isv

AC_SOFT_START_MS = const(200)   # inverter soft start until the first fill (then the supervisory loop's)
SOURCE_LIMIT_MA = const(2000)   # precharge / cable-check source, 2 A class (limits.I_BREAK_MAX_A)
_READY_AC_PCT = const(90)       # inverter counts as soft-started above 90 % of the setpoint


class PowerStageLink:
    def __init__(self, port, sup, m, session, config=None):
        self.sup = sup
        # inverter supervisory loop (issue 12): profile (from the configuration),
        # RMS trim, AC budget, energy
        self.config = config
        prof = config.profile if config is not None else isv.PROFILE_230_50
        self.inv = isv.Supervisory(prof, isv.PROFILE_MAX_W[prof], sup.soc_floor_pct)
        # V2H: the transfer interlock is the safety io's input (pins
        # V2H_INTERLOCK, Meas.v2h_interlock with its age); why the inverter refuses
        self.refusal = ""
        self.m = m
        self.session = session
        self.events = Ring(16)
        self.node = n = CanNode(port, events=self.events)
        self.dcdc_state = ps.DcDcState_Off
        self.ac_v = 0.0
        self.ac_hz = 0.0
        self.i_ac = 0.0
        self.lost = 0               # RX timeouts of the DC/DC status seen
        self._alive = 0
        n.on_rx(ps.ID_PsDcDcStatus, ps, self._dcdc)
        n.on_rx(ps.ID_PsInverterStatus, ps, self._inv)
        n.on_rx(ps.ID_PsIsolation, ps, self._iso)
        n.on_rx(ps.ID_PsTemperatures, ps, self._temps)
        n.on_rx(ps.ID_PsFaults, ps, self._faults)
        n.add_tx(ps.ID_PsCommand, ps, {
            "Mode": 0, "EnableDcDc": 0, "EnableInverter": 0, "EnableSource": 0, "FaultReset": 0,
            "ContactorDcPosCmd": 0, "ContactorDcNegCmd": 0, "ContactorPrechargeCmd": 0,
            "RelayAcOutCmd": 0, "AliveCounter": 0}, fill=self._fill_cmd)
        n.add_tx(ps.ID_PsDcDcSetpoint, ps, {
            "DcLinkVoltageSetpoint": 0, "InletCurrentLimit": 0, "InletVoltageMin": 0,
            "PowerLimit": 0}, fill=self._fill_dcdc, after=ps.ID_PsCommand)
        n.add_tx(ps.ID_PsInverterSetpoint, ps, {
            "AcVoltageSetpoint": 0, "AcFrequencySetpoint": self.ac_setpoint()[1], "AcCurrentLimit": 0,
            "SoftStartRamp": AC_SOFT_START_MS}, fill=self._fill_inv, after=ps.ID_PsDcDcSetpoint)
        n.add_tx(ps.ID_PsSourceSetpoint, ps, {
            "SourceMode": 0, "SourceVoltageSetpoint": 0, "SourceCurrentLimit": 0},
            fill=self._fill_src)

    # ------------------------------------------------------------ RX
    def _dcdc(self, fid, v, now):
        self.inv.rx(fid, v, now)
        m = self.m
        m.ps_seen_ms = now
        m.i_dc = v["InletCurrent"]
        self.dcdc_state = v["DcDcState"]
        self._update_ready()

    def _inv(self, fid, v, now):
        self.m.inv_seen_ms = now
        self.inv.rx(fid, v, now)
        self.m.p_ac = v["AcActivePower"]
        self.ac_v = v["AcVoltageRms"]
        self.ac_hz = v["AcFrequency"]
        self.i_ac = v["AcCurrentRms"]
        self._update_ready()

    def _update_ready(self):
        st = self.dcdc_state
        self.m.ps_ready = ((st == ps.DcDcState_Running or st == ps.DcDcState_Derating)
                           and self.ac_v * 100 >= isv.PROFILE_V[self.inv.profile] * _READY_AC_PCT)

    def _iso(self, fid, v, now):
        # every PsIsolation refreshes the age, also "not measuring" (iso_ohm -1):
        # the supervisor judges both (Meas.iso_seen_ms, F_IMD)
        self.m.iso_seen_ms = now
        st = v["IsolationState"]
        if st == ps.IsolationState_Valid or st == ps.IsolationState_Warning or st == ps.IsolationState_Fault:
            a = v["IsolationResistancePos"]
            b = v["IsolationResistanceNeg"]
            self.m.iso_ohm = int(a if a < b else b) * 1000
        else:
            self.m.iso_ohm = -1

    def _temps(self, fid, v, now):
        self.m.t_stage_seen_ms = now
        self.inv.rx(fid, v, now)
        t = v["TempDcDcPrimary"]
        for k in ("TempDcDcSecondary", "TempTransformer", "TempInverterBridge", "TempAcFilter"):
            if v[k] > t:
                t = v[k]
        self.m.t_stage = t

    def _faults(self, fid, v, now):
        self.m.ps_faults_seen_ms = now
        self.m.ps_fault = bool(v["FaultWordDcDc"] or v["FaultWordInverter"] or v["FaultWordSource"])

    # ------------------------------------------------------------ TX
    def _fill_cmd(self, now, v):
        c = self.sup.cmd
        intent = self.session.intent
        on = 1 if c.ps_enable else 0
        if c.ac_relay:
            mode = ps.Mode_Supply
        elif on:
            mode = ps.Mode_DcDcOnly
        elif c.k_pre:
            mode = ps.Mode_CableCheck if intent & sv.I_ISO_TEST else ps.Mode_Precharge
        elif c.dc_discharge:
            mode = ps.Mode_DcLinkDischarge
        else:
            mode = ps.Mode_Off
        v["Mode"] = mode
        v["EnableDcDc"] = on
        v["EnableInverter"] = on
        v["EnableSource"] = 1 if c.k_pre else 0
        v["ContactorDcPosCmd"] = c.k_pos
        v["ContactorDcNegCmd"] = c.k_neg
        v["ContactorPrechargeCmd"] = c.k_pre
        v["RelayAcOutCmd"] = c.ac_relay
        v["AliveCounter"] = self._alive
        self._alive = (self._alive + 1) & 15

    def _fill_dcdc(self, now, v):
        c = self.sup.cmd
        m = self.m
        v["DcLinkVoltageSetpoint"] = c.pre_target_v
        v["InletCurrentLimit"] = c.i_limit_a
        v["InletVoltageMin"] = m.veh_min_v if m.veh_min_v > 0 else 0
        v["PowerLimit"] = c.p_limit_w

    def ac_setpoint(self):
        """(V rms, Hz) of the output profile the supervisory loop runs (line to neutral)."""
        p = self.inv.profile
        return isv.PROFILE_V[p], isv.PROFILE_HZ[p]

    def _fill_inv(self, now, v):
        """Every 10 ms: one step of the inverter supervisory loop (100 Hz)."""
        c = self.sup.cmd
        m = self.m
        on = c.ps_enable
        if on and self.sup.mode == sv.MODE_V2H and not c.ac_relay:
            # never start into a live generator inlet, only with the transfer
            # interlock made; the supervisor's backfeed rule stays in force too
            ok, why = isv.v2h_permit(m.v_ac, self.sup.interlock_made(now, m))
            self.refusal = why          # the last reason, kept for the status
            if not ok:
                on = False
        s = self.inv
        cf = self.config
        if cf is not None and cf.profile != s.profile and not on:
            s.configure(cf.profile, isv.PROFILE_MAX_W[cf.profile], self.sup.soc_floor_pct)
        s.max_power_w = self.sup.max_power_w if self.sup.max_power_w < isv.PROFILE_MAX_W[s.profile] \
            else isv.PROFILE_MAX_W[s.profile]
        s.soc_floor = self.sup.soc_floor_pct
        s.car_limits(m.veh_max_i if m.veh_max_i > 0 else 0.0, m.veh_max_p if m.veh_max_p > 0 else 0.0,
                     m.veh_min_v if m.veh_min_v > 0 else 0.0, m.veh_soc)
        s.tick(now, on and c.ac_relay)
        # J1772 outlet mode (V2V with a rated outlet): the offer goes to the
        # supervisor, which alone drives the outlet's pilot
        if self.sup.mode == sv.MODE_V2V and s.cable_a > 0:
            o_on, o_duty, o_f = s.outlet_offer()
            self.sup.request_outlet(o_on, o_duty, o_f)
        else:
            self.sup.request_outlet(False, 0, True)
        vn = isv.PROFILE_V[s.profile]
        v["AcVoltageSetpoint"] = s.v_set if on and s.v_set > 0 else (vn if on else 0)
        v["AcFrequencySetpoint"] = isv.PROFILE_HZ[s.profile]
        v["SoftStartRamp"] = s.inv["SoftStartRamp"]
        p = c.p_limit_w if c.p_limit_w > 0 else self.sup.max_power_w
        a = p / vn if on else 0
        if on and s.budget_w > 0 and s.i_ac_limit < a:
            a = s.i_ac_limit                    # SoC-floor taper and temperature derating
        v["AcCurrentLimit"] = a if a < 63 else 63

    def _fill_src(self, now, v):
        c = self.sup.cmd
        intent = self.session.intent
        if c.k_pre:
            v["SourceMode"] = ps.SourceMode_CableCheck if intent & sv.I_ISO_TEST else ps.SourceMode_Precharge
            v["SourceVoltageSetpoint"] = c.pre_target_v
            v["SourceCurrentLimit"] = SOURCE_LIMIT_MA / 1000
        elif c.dc_discharge:
            v["SourceMode"] = ps.SourceMode_Discharge
            v["SourceVoltageSetpoint"] = 0
            v["SourceCurrentLimit"] = 0
        else:
            v["SourceMode"] = ps.SourceMode_Off
            v["SourceVoltageSetpoint"] = 0
            v["SourceCurrentLimit"] = 0

    # ------------------------------------------------------------ task
    def poll(self, now):
        self.node.poll(now)
        ev = self.events
        while len(ev):
            kind, fid = ev.get()
            if kind == NODE_RX_TIMEOUT and fid == ps.ID_PsDcDcStatus:
                self.lost += 1
                self.m.ps_ready = False
                self.dcdc_state = ps.DcDcState_Off
