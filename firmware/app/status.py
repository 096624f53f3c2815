"""Service-CAN status frames (dbc/box.dbc BoxSession, BoxDcMeasurements,
BoxAcMeasurements, BoxVehicle, BoxEnergy, BoxFaults) filled from the
session, the supervisor and the CHAdeMO core. Sans-IO: `fill_*` callbacks
run just before CanNode encodes each cyclic frame; `account(now, acts)`
runs after every supervisor step (energy, stop reason, session time)."""
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
        if acts & T.A_PROTO_START:
            self.session_t0 = now
            self.stop_reason = box.StopReason_None
            self.e_ac_wh = 0.0
            self.e_dc_wh = 0.0
        if self.session_t0 >= 0 and sess.state not in (T.IDLE, T.PLUGGED, T.READY_TO_UNPLUG,
                                                       T.FAULT, T.LOCKOUT):
            self.session_s = (now - self.session_t0) // 1000
        if sess.state != self._state:
            self._state = sess.state
            if self.stop_reason == box.StopReason_None and sess.state in (
                    T.STOPPING, T.WELDING_CHECK, T.DC_LINK_DISCHARGE, T.FAULT, T.LOCKOUT):
                self.stop_reason = self._why(sess.last_event)

    def _why(self, ev):
        f = self.safety.sup.faults
        if ev == T.EV_STOP:
            return box.StopReason_UserStop
        if ev == T.EV_END:
            return box.StopReason_SocFloor if f & (1 << fl.F_SOC_FLOOR) else box.StopReason_Undervoltage
        if ev == T.EV_UNPLUG:
            return box.StopReason_Unplugged
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
        v["Protocol"] = box.Protocol_Chademo
        v["Connector"] = box.Connector_Chademo
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

