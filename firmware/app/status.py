"""Service-CAN status frames (dbc/box.dbc BoxSession, BoxDcMeasurements,
BoxAcMeasurements, BoxVehicle, BoxEnergy, BoxFaults) filled from the
session, the supervisor and the CHAdeMO core. Sans-IO: `fill_*` callbacks
run just before CanNode encodes each cyclic frame; `account(now, acts)`
runs after every supervisor step (energy, stop reason, session time).

The protocol core view (`core`) is the CHAdeMO charger, or for CCS / NACS the
composition's view (firmware.app.ccs), which says `ccs = True` and offers
`end_info(now)`, `status_protocol`, `status_connector`, `renewal` and
`renewal_pending`: the V2G session's end is mapped by ccs_stop_reason below."""
from micropython import const

from firmware.can import codec
from firmware.can.gen import box
from firmware.protocols.chademo import charger as ch
from firmware.safety import dtc as D
from firmware.safety import faults as fl
from firmware.charging import table as T

_MODE = (box.Mode_Outlets, box.Mode_VehicleToVehicle, box.Mode_HomeBackup)   # by supervisor MODE_*
_MS_PER_H = const(3600000)

# fault bit -> BoxFaults flag
_FLAGS = (
    ("FaultEstop", (1 << fl.F_ESTOP)),
    ("FaultIsolation", (1 << fl.F_ISOLATION)),
    ("FaultRcd", (1 << fl.F_RCD)),
    ("FaultOvervoltage", (1 << fl.F_BACKFEED)),
    ("FaultOvercurrent", (1 << fl.F_OVER_CURRENT) | (1 << fl.F_SHORT) | (1 << fl.F_RAMP_TIMEOUT)),
    ("FaultOvertemperature", (1 << fl.F_OVER_TEMP)),
    ("FaultVehicleComm", (1 << fl.F_VEHICLE_LINK)),
    ("FaultPowerStage", (1 << fl.F_PS_LINK) | (1 << fl.F_PS_FAULT)),
    ("FaultContactorWeld", (1 << fl.F_WELDED) | (1 << fl.F_CONTACTOR)),
    ("FaultGroundLoss", 0),
    ("FaultWatchdog", (1 << fl.F_LOOP_STALL) | (1 << fl.F_INVARIANT)),
)


# CCS / NACS: what the SECC's stop request (core.stop_requested) says about who ended the loop
_CCS_STOP_REQUEST = {
    "soc-floor": box.StopReason_SocFloor,
    "j2847-min-soc": box.StopReason_SocFloor,  # ISO-2 SAE J2847/2: the car's own minimum SoC (BulkSOC)
    "user-stop": box.StopReason_UserStop,
    "box": box.StopReason_UserStop,          # the session's stop (ToolCommand / button) reached the SECC
    "loop-count": box.StopReason_UserStop,   # the operator's loop-count setting (v2xbox secc --loops)
    "box-fault": box.StopReason_BoxFault,
    "contactors-open": box.StopReason_BoxFault,
}
# CCS / NACS: the SECC's end reason (DinSecc / Iso2Secc / Iso20Secc end_reason, Secc record "ended"), by prefix
_CCS_ENDS = (
    ("sequence timeout", box.StopReason_CommTimeout),        # V2G_SECC_Sequence_Timeout
    ("no supportedAppProtocolReq", box.StopReason_CommTimeout),
    ("connection closed", box.StopReason_VehicleAbort),      # the car dropped the TCP connection
    ("isolation fault", box.StopReason_IsolationFault),
    ("CableCheck not finished", box.StopReason_BoxFault),
    ("inlet not precharged", box.StopReason_BoxFault),
    ("contactors did not close", box.StopReason_BoxFault),
    ("cannot encode", box.StopReason_BoxFault),
)
LOOP_LIMIT_SHARE = 0.75   # a car-ended loop this close to its profile's loop_limit_s is that limit (team)


def ccs_stop_reason(stop_requested, end_reason, loops, loop_ms, loop_limit_s, ev_error):
    """StopReason of a CCS / NACS V2G session end, from the SECC's view of it:
    stop_requested ("" or the reason the SECC answered EVSE_Shutdown), end_reason
    ("" while the session still runs, "session stop" after SessionStop, else why it
    failed), CurrentDemand / DC_ChargeLoop count, ms since the first loop request, the
    car profile's loop_limit_s (None if unknown), the car's last EVErrorCode."""
    r = _CCS_STOP_REQUEST.get(stop_requested)
    if r is not None:
        return r
    if ev_error and ev_error != "NO_ERROR":
        return box.StopReason_VehicleFault
    if not end_reason or end_reason == "session stop":
        if not loops:
            return box.StopReason_VehicleAbort           # the car left before the energy transfer
        if loop_limit_s and loop_ms >= loop_limit_s * 1000 * LOOP_LIMIT_SHARE:
            return box.StopReason_VehicleLoopLimit
        return box.StopReason_VehicleStop
    for prefix, r in _CCS_ENDS:
        if end_reason.startswith(prefix):
            return r
    return box.StopReason_ProtocolError   # FAILED_* answers, sequence errors, decode errors


class Status:
    def __init__(self, safety, core, ps_link):
        self.safety = safety
        self.core = core
        self.ps = ps_link
        self.stop_reason = box.StopReason_None
        self.session_t0 = -1
        self.session_s = 0
        self.e_ac_wh = 0.0          # delivered to the AC load
        self.e_dc_wh = 0.0          # drawn from the vehicle
        self._prev = -1
        self._state = T.IDLE

    def account(self, now, acts):
        s = self.safety
        m = s.m
        sess = s.session
        if self._prev >= 0:
            dt = now - self._prev
            if m.p_ac > 0 and s.sup.cmd.ac_relay:
                self.e_ac_wh += m.p_ac * dt / _MS_PER_H
            if m.i_dc > 0 and s.sup.cmd.k_pos:
                self.e_dc_wh += m.v_inlet * m.i_dc * dt / _MS_PER_H
        self._prev = now
        core = self.core
        if acts & T.A_PROTO_START:
            self.session_t0 = now
            # a renewal keeps saying so through the renewed session; any other start clears
            keep = self.stop_reason == box.StopReason_Renewal and getattr(core, "renewal", False)
            self.stop_reason = box.StopReason_Renewal if keep else box.StopReason_None
            self.e_ac_wh = 0.0
            self.e_dc_wh = 0.0
        if self.session_t0 >= 0 and sess.state not in (T.IDLE, T.PLUGGED, T.READY_TO_UNPLUG,
                                                       T.FAULT, T.LOCKOUT):
            self.session_s = (now - self.session_t0) // 1000
        if sess.state != self._state:
            self._state = sess.state
            if (self.stop_reason == box.StopReason_None or self.stop_reason == box.StopReason_Renewal) and \
                    sess.state in (T.STOPPING, T.CONTACTORS_OPEN, T.WELDING_CHECK, T.DC_LINK_DISCHARGE, T.FAULT,
                                   T.LOCKOUT):
                self.stop_reason = self._why(sess.last_event, now)
        if (self.stop_reason == box.StopReason_VehicleStop or self.stop_reason == box.StopReason_VehicleLoopLimit) \
                and getattr(core, "renewal_pending", False):
            self.stop_reason = box.StopReason_Renewal

    def _why(self, ev, now=0):
        f = self.safety.sup.faults
        if ev == T.EV_STOP:
            return box.StopReason_UserStop
        if ev == T.EV_END:
            return box.StopReason_SocFloor if f & (1 << fl.F_SOC_FLOOR) else box.StopReason_Undervoltage
        if ev == T.EV_UNPLUG:
            return box.StopReason_Unplugged
        if getattr(self.core, "ccs", False):
            info = self.core.end_info(now)
            # the car / protocol ended it, or the V2G session had already failed when the
            # supervisor reacted to its consequences (e.g. the car's data gone while closed)
            if ev == T.EV_VEHICLE_STOP or ev == T.EV_PROTOCOL_FAULT or (info[1] and info[1] != "session stop"):
                return ccs_stop_reason(*info)
        if ev == T.EV_VEHICLE_STOP:
            r = self.core.reason
            if r == ch.END_SOC_FLOOR:
                return box.StopReason_SocFloor
            if r == ch.END_MIN_DISCHARGE_VOLTAGE or r == ch.END_LOWER_THRESHOLD:
                return box.StopReason_Undervoltage
            return box.StopReason_VehicleStop
        if ev == T.EV_PROTOCOL_FAULT:
            r = self.core.reason
            if r == ch.END_COMM_LOSS or r == ch.END_BUS_OFF:
                return box.StopReason_CommTimeout
            return box.StopReason_VehicleFault if r < ch._END_FIRST_BOX else box.StopReason_BoxFault
        if f & (1 << fl.F_ESTOP):
            return box.StopReason_Estop
        if f & (1 << fl.F_ISOLATION):
            return box.StopReason_IsolationFault
        if f & (1 << fl.F_VEHICLE_LINK):
            return box.StopReason_CommTimeout
        if f & ((1 << fl.F_OVER_CURRENT) | (1 << fl.F_SHORT)):
            return box.StopReason_Overload
        return box.StopReason_BoxFault

    # ------------------------------------------------------------ TX fill
    def fill_session(self, now, v):
        sup = self.safety.sup
        c = self.core
        v["Protocol"] = getattr(c, "status_protocol", box.Protocol_Chademo)
        v["Connector"] = getattr(c, "status_connector", box.Connector_Chademo)
        v["Mode"] = _MODE[sup.mode]
        v["OutputEnabled"] = 1 if sup.cmd.ac_relay else 0
        v["StopReason"] = self.stop_reason
        v["SessionTime"] = self.session_s

    def fill_dc(self, now, v):
        m = self.safety.m
        v["DcInletVoltage"] = m.v_inlet
        v["DcInletCurrent"] = m.i_dc
        v["DcLinkVoltage"] = m.v_link
        v["IsolationResistance"] = m.iso_ohm // 1000 if m.iso_ohm >= 0 else 65535

    def fill_ac(self, now, v):
        m = self.safety.m
        ps = self.ps
        v["AcVoltage"] = m.v_ac
        v["AcCurrent"] = ps.i_ac
        v["AcFrequency"] = ps.ac_hz if ps.ac_v > 0 else 0
        v["AcPower"] = m.p_ac

    def fill_vehicle(self, now, v):
        m = self.safety.m
        c = self.core
        v["VehicleSoc"] = m.veh_soc
        v["VehicleSocFloor"] = self.safety.sup.soc_floor_pct
        v["VehicleMaxDischargeCurrent"] = c.ev_max_dis_a
        v["VehicleMinVoltage"] = c.ev_min_dis_v
        v["VehicleMaxVoltage"] = c.ev_max_v

    def fill_energy(self, now, v):
        v["EnergyDelivered"] = self.e_ac_wh / 1000
        v["EnergyFromVehicle"] = self.e_dc_wh / 1000

    def fill_faults(self, now, v):
        f = self.safety.sup.faults
        n = 0
        first = 0
        for i in range(fl.N_FAULTS):
            if f & (1 << i):
                if not n:
                    first = D.FAULT_DTC[i] >> 8
                n += 1
        v["ActiveFaultCount"] = n
        v["FirstFaultCode"] = first
        for name, mask in _FLAGS:
            v[name] = 1 if f & mask else 0
        r = fl.reaction_of(f)
        if r >= fl.R_LOCKOUT:
            sev = box.HighestSeverity_Lockout
        elif r >= fl.R_STOP and not fl.only_normal_end(f):
            sev = box.HighestSeverity_Stop
        elif f:
            sev = box.HighestSeverity_Warning
        else:
            sev = box.HighestSeverity_None
        v["HighestSeverity"] = sev

    def register(self, node):
        for fid, fn in ((box.ID_BoxSession, self.fill_session), (box.ID_BoxDcMeasurements, self.fill_dc),
                        (box.ID_BoxAcMeasurements, self.fill_ac), (box.ID_BoxVehicle, self.fill_vehicle),
                        (box.ID_BoxEnergy, self.fill_energy), (box.ID_BoxFaults, self.fill_faults)):
            v = {}
            for sig in box.message(fid)[codec.MSG_SIGS]:
                v[sig[codec.SIG_NAME]] = 0
            f = _in_range(box.message(fid), fn)
            f(0, v)
            node.add_tx(fid, box, v, fill=f)


def _in_range(msg, fn):
    """`fn` followed by a clamp of every signal to its range in dbc/box.dbc
    (from the generated tables; NaN reads as the minimum)."""
    lims = [(sig[codec.SIG_NAME], sig[codec.SIG_MIN], sig[codec.SIG_MAX]) for sig in msg[codec.MSG_SIGS]
            if sig[codec.SIG_MIN] is not None and sig[codec.SIG_MAX] is not None]

    def fill(now, v):
        fn(now, v)
        for name, lo, hi in lims:
            x = v[name]
            if x > hi:
                v[name] = hi
            elif not x >= lo:
                v[name] = lo
    return fill

