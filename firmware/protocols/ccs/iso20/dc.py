"""ISO 15118-20 DC and DC_BPT (EIM), SECC side, in the spec's message order. Sans-IO,
MicroPython-compatible.

Sequence (sheet §8; EVerest libiso15118 d20/state/): SessionSetup -> AuthorizationSetup ->
Authorization -> ServiceDiscovery -> ServiceDetail -> ServiceSelection ->
DC_ChargeParameterDiscovery -> ScheduleExchange -> DC_CableCheck -> DC_PreCharge ->
PowerDelivery(Start) -> DC_ChargeLoop -> PowerDelivery(Stop) -> DC_WeldingDetection -> SessionStop.

Messages are root elements with their own Header (SessionID, TimeStamp); the DC ones
(DC_*) belong to the schema set iso20dc and travel as V2GTP 0x8004, the others to
iso20 (CommonMessages, 0x8002): `schema_of(name)` tells the driver which.

Services offered: DC_BPT (ID 6) first, then DC (ID 2) (service IDs: sheet §8). Each has
one parameter set; its ControlMode is cfg "iso20_control" ("dynamic", default, or
"scheduled"). The discharge logic is the DIN core's (present voltage from measurement,
physical precharge, cable check, SoC floor); with DC_BPT the car knows it discharges, so
EVSEPresentCurrent is the measured current with the discharge sign (negative) and the
discharge limits are the EV's BPT limits; with plain DC the profile's reported-current
strategy applies, as in DIN. Stop: EVSENotification "Terminate" in DC_ChargeLoopRes.

TLS: ISO 15118-20 requires TLS 1.3 ([V2G20-1237], [V2G20-2356], sheet §8); this core
runs over whatever transport it is given; the session works where the peer allows
plain TCP (Josev's EVCC with useTls false does).
"""
from micropython import const

from firmware.protocols.ccs import port as P
from firmware.protocols.ccs.din import dc as din

WAIT_SESSION_SETUP = const(0)
WAIT_AUTH_SETUP = const(1)
WAIT_AUTH = const(2)
WAIT_SERVICE_DISCOVERY = const(3)
WAIT_SERVICE_DETAIL = const(4)
WAIT_CHARGE_PARAMETER = const(5)
WAIT_SCHEDULE = const(6)
WAIT_CABLE_CHECK = const(7)
WAIT_PRECHARGE = const(8)
WAIT_LOOP = const(9)
WAIT_WELDING_OR_STOP = const(10)
ENDED = const(11)

STATES = (
    ("SessionSetupReq",),
    ("AuthorizationSetupReq", "SessionStopReq"),
    ("AuthorizationReq", "SessionStopReq"),
    ("ServiceDiscoveryReq", "SessionStopReq"),
    ("ServiceDetailReq", "ServiceSelectionReq", "SessionStopReq"),
    ("DC_ChargeParameterDiscoveryReq", "SessionStopReq"),
    ("ScheduleExchangeReq", "SessionStopReq"),
    ("DC_CableCheckReq", "SessionStopReq"),
    ("DC_PreChargeReq", "PowerDeliveryReq", "SessionStopReq"),
    ("DC_ChargeLoopReq", "PowerDeliveryReq"),
    ("DC_WeldingDetectionReq", "SessionStopReq", "PowerDeliveryReq"),
    (),
)

SERVICE_DC = const(2)
SERVICE_DC_BPT = const(6)
CONNECTOR_EXTENDED = const(2)
CONTROL_SCHEDULED = const(1)
CONTROL_DYNAMIC = const(2)


def rn(value):
    """RationalNumber {Exponent, Value} with the most precision that fits a short."""
    e = -1
    v = int(round(value * 10))
    while v > 32767 or v < -32768:
        e += 1
        v = int(round(value / (10 ** e)))
    return {"Exponent": e, "Value": v}


def rval(r, default=None):
    if r is None:
        return default
    e = r.get("Exponent", 0)
    v = r.get("Value", 0)
    return v * (10 ** e) if e >= 0 else v / (10 ** -e)


def _flat_price():
    return {"TimeAnchor": 0, "PriceScheduleID": 1, "NumberOfPriceLevels": 1,
            "PriceLevelScheduleEntries": {"PriceLevelScheduleEntry": [{"Duration": 86400, "PriceLevel": 0}]}}


def schema_of(name):
    """Schema set of a -20 message name: the DC ones are in iso20dc (V2GTP 0x8004)."""
    return "iso20dc" if name.startswith("DC_") else "iso20"


class Iso20Secc(din.DinSecc):
    STATES = STATES
    HANDLERS = {}

    def __init__(self, port, profile, cfg=None, session_id=None):
        din.DinSecc.__init__(self, port, profile, cfg, session_id)
        cfg = cfg or {}
        self.evse_id = cfg.get("evse_id_str", "ZZ00000")
        self.control = CONTROL_SCHEDULED if cfg.get("iso20_control") == "scheduled" else CONTROL_DYNAMIC
        self.service = 0            # selected energy service
        self.bpt = False
        self.ts = 0                 # TimeStamp for headers (seconds; the box has no wall clock)
        self.end_state = ENDED

    # ------------------------------------------------------------ framing of -20 messages
    def split(self, msg):
        name = None
        for k in msg:
            name = k
        if name is None or not name.endswith("Req"):
            raise KeyError("no request")
        content = msg[name]
        return name, content["Header"].get("SessionID"), content

    def _msg(self, res_name, body, now):
        self.last_res_at = now
        d = {"Header": {"SessionID": self.session_id, "TimeStamp": self.ts + int(now // 1000)}}
        for k in body:
            d[k] = body[k]
        return {res_name: d}

    def _end(self, reason, now):
        if not self.ended:
            self.ended = True
            self.end_reason = reason
            self.state = ENDED
            self.port.stop()

    def _notify(self, r):
        """Add EVSEStatus {Terminate} once the box wants to stop (or on a fault). The element is
        optional and -20 has no "None" notification, so it is absent otherwise."""
        if self.stop_requested or self.port.fault() or self.port.isolation() == P.ISO_FAULT:
            r["EVSEStatus"] = {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
        return r

    # ------------------------------------------------------------ handlers, spec order
    def session_setup(self, b, now):
        self.ev["evccid"] = b.get("EVCCID", "")
        self.state = WAIT_AUTH_SETUP
        return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": self.evse_id}

    def authorization_setup(self, b, now):
        self.state = WAIT_AUTH
        return {"ResponseCode": "OK", "AuthorizationServices": ["EIM"], "CertificateInstallationService": False,
                "EIM_ASResAuthorizationMode": {}}

    def authorization(self, b, now):
        if b.get("SelectedAuthorizationService") != "EIM":
            return self._fail_body("FAILED", "only EIM", now)
        self.state = WAIT_SERVICE_DISCOVERY
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}

    def service_discovery(self, b, now):
        self.state = WAIT_SERVICE_DETAIL
        return {"ResponseCode": "OK", "ServiceRenegotiationSupported": False,
                "EnergyTransferServiceList": {"Service": [{"ServiceID": SERVICE_DC_BPT, "FreeService": True},
                                                          {"ServiceID": SERVICE_DC, "FreeService": True}]}}

    def service_detail(self, b, now):
        sid = b.get("ServiceID")
        if sid not in (SERVICE_DC, SERVICE_DC_BPT):
            return self._fail_body("FAILED_ServiceIDInvalid", "service detail %s" % sid, now)
        params = [{"Name": "Connector", "intValue": CONNECTOR_EXTENDED},
                  {"Name": "ControlMode", "intValue": self.control},
                  {"Name": "MobilityNeedsMode", "intValue": 1},
                  {"Name": "Pricing", "intValue": 0}]
        if sid == SERVICE_DC_BPT:
            params.append({"Name": "BPTChannel", "intValue": 1})       # Unified
            params.append({"Name": "GeneratorMode", "intValue": 1})    # GridFollowing
        return {"ResponseCode": "OK", "ServiceID": sid,
                "ServiceParameterList": {"ParameterSet": [{"ParameterSetID": 1, "Parameter": params}]}}

    def service_selection(self, b, now):
        sel = b.get("SelectedEnergyTransferService") or {}
        sid = sel.get("ServiceID")
        if sid not in (SERVICE_DC, SERVICE_DC_BPT) or sel.get("ParameterSetID") != 1:
            return self._fail_body("FAILED_ServiceSelectionInvalid", "service selection %s" % sid, now)
        if b.get("SelectedVASList"):
            return self._fail_body("FAILED_ServiceSelectionInvalid", "no value-added services offered", now)
        self.service = sid
        self.bpt = sid == SERVICE_DC_BPT
        self.state = WAIT_CHARGE_PARAMETER
        return {"ResponseCode": "OK"}

    def charge_parameter_discovery(self, b, now):
        m = b.get("BPT_DC_CPDReqEnergyTransferMode") or b.get("DC_CPDReqEnergyTransferMode")
        if m is None or (self.bpt and "BPT_DC_CPDReqEnergyTransferMode" not in b):
            return self._fail_body("FAILED_WrongChargeParameter", "charge parameters do not match the service", now)
        ev = self.ev
        ev["max_v"] = rval(m.get("EVMaximumVoltage"))
        ev["max_a"] = rval(m.get("EVMaximumChargeCurrent"))
        ev["max_w"] = rval(m.get("EVMaximumChargePower"))
        if self.bpt:
            ev["max_dis_a"] = rval(m.get("EVMaximumDischargeCurrent"))
            ev["max_dis_w"] = rval(m.get("EVMaximumDischargePower"))
        port = self.port
        mode = {"EVSEMaximumChargePower": rn(port.max_p), "EVSEMinimumChargePower": rn(0),
                "EVSEMaximumChargeCurrent": rn(port.max_i), "EVSEMinimumChargeCurrent": rn(0),
                "EVSEMaximumVoltage": rn(port.max_v), "EVSEMinimumVoltage": rn(port.min_v)}
        self.state = WAIT_SCHEDULE
        if self.bpt:
            mode.update({"EVSEMaximumDischargePower": rn(port.max_p), "EVSEMinimumDischargePower": rn(0),
                         "EVSEMaximumDischargeCurrent": rn(port.max_i), "EVSEMinimumDischargeCurrent": rn(0)})
            return {"ResponseCode": "OK", "BPT_DC_CPDResEnergyTransferMode": mode}
        return {"ResponseCode": "OK", "DC_CPDResEnergyTransferMode": mode}

    def schedule_exchange(self, b, now):
        self.state = WAIT_CABLE_CHECK
        r = {"ResponseCode": "OK", "EVSEProcessing": "Finished"}   # type: dict
        if self.control == CONTROL_DYNAMIC:
            r["Dynamic_SEResControlMode"] = {}
        else:
            # one flat 24 h tuple; a one-level price schedule, which Josev's EVCC requires
            # (the box does not price energy)
            sched = {"ScheduleTupleID": 1, "ChargingSchedule": {"PowerSchedule": {
                "TimeAnchor": 0, "PowerScheduleEntries": {"PowerScheduleEntry": [
                    {"Duration": 86400, "Power": rn(self.port.max_p)}]}}, "PriceLevelSchedule": _flat_price()}}  # type: dict
            if self.bpt:
                sched["DischargingSchedule"] = {"PowerSchedule": {
                    "TimeAnchor": 0, "PowerScheduleEntries": {"PowerScheduleEntry": [
                        {"Duration": 86400, "Power": rn(-self.port.max_p)}]}}, "PriceLevelSchedule": _flat_price()}
            r["Scheduled_SEResControlMode"] = {"ScheduleTuple": [sched]}
        return r

    def cable_check20(self, b, now):
        r = din.DinSecc.cable_check(self, {}, now)
        if r.get("ResponseCode") != "OK":
            return r
        if r["EVSEProcessing"] == "Finished":
            self.state = WAIT_PRECHARGE
        else:
            self.state = WAIT_CABLE_CHECK
        return {"ResponseCode": "OK", "EVSEProcessing": r["EVSEProcessing"]}

    def precharge20(self, b, now):
        tv = rval(b.get("EVTargetVoltage"), 0.0)
        self.ev["target_v"] = tv
        if tv > self.port.max_v:
            return self._fail_body("FAILED", "precharge target above the box maximum", now)
        self.port.precharge(tv, P.PRECHARGE_MAX_A)
        v = self.port.inlet_v()
        return {"ResponseCode": "OK", "EVSEPresentVoltage": rn(v if v > 0 else 0.0)}

    def power_delivery20(self, b, now):
        cp = b.get("ChargeProgress")
        if cp not in ("Start", "Stop"):
            return self._fail_body("FAILED", "ChargeProgress %s not supported" % cp, now)
        if (cp == "Start" and self.state == WAIT_LOOP) or (cp == "Stop" and self.state == WAIT_WELDING_OR_STOP):
            # the EV repeats PowerDeliveryReq while its EVProcessing is Ongoing: same answer again
            return self._notify({"ResponseCode": "OK"})
        d = {"ReadyToChargeState": cp == "Start"}
        st = self.state
        self.state = din.WAIT_PRECHARGE if st == WAIT_PRECHARGE else din.WAIT_CURRENT_DEMAND
        r = din.DinSecc.power_delivery(self, d, now)
        if r is None:
            self.state = st
            return None
        if r.get("ResponseCode") != "OK":
            return r
        self.state = WAIT_LOOP if cp == "Start" else WAIT_WELDING_OR_STOP
        return self._notify({"ResponseCode": "OK"})

    def charge_loop(self, b, now):
        port = self.port
        ev = self.ev
        ev["present_v"] = rval(b.get("EVPresentVoltage"))
        m = b.get("BPT_Dynamic_DC_CLReqControlMode") or b.get("Dynamic_DC_CLReqControlMode") or \
            b.get("BPT_Scheduled_DC_CLReqControlMode") or b.get("Scheduled_DC_CLReqControlMode") or {}
        soc = (b.get("DisplayParameters") or {}).get("PresentSOC")
        if soc is not None:
            ev["soc"] = soc
            if soc <= self.profile.get("soc_floor", 20):
                self.stop("soc-floor")
        self.cd_count += 1
        if port.fault():
            self.stop("box-fault")
        if not port.closed():
            self.stop("contactors-open")
        v = port.inlet_v()
        if self.bpt:
            lim_a = min(port.max_i, rval(m.get("EVMaximumDischargeCurrent"), ev.get("max_dis_a") or port.max_i))
            lim_w = min(port.max_p, abs(rval(m.get("EVMaximumDischargePower"), ev.get("max_dis_w") or port.max_p)))
        else:
            lim_a = min(port.max_i, rval(m.get("EVMaximumChargeCurrent"), ev["max_a"] or port.max_i))
            lim_w = min(port.max_p, rval(m.get("EVMaximumChargePower"), ev["max_w"] or port.max_p))
        lim_a = abs(lim_a)
        if v > 1:
            lim_a = min(lim_a, lim_w / v)
        if self.stop_requested:
            lim_a = lim_w = 0.0
        port.limits(lim_a, lim_w)
        present_a = -abs(port.current_a()) if self.bpt else self.reported_current()
        r = {"ResponseCode": "OK",
             "EVSEPresentCurrent": rn(present_a), "EVSEPresentVoltage": rn(v if v > 0 else 0.0),
             "EVSEPowerLimitAchieved": False, "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False}
        r.update(self._loop_limits())
        return self._notify(r)

    def _loop_limits(self):
        port = self.port
        if self.control == CONTROL_DYNAMIC:
            mode = {"EVSEMaximumChargePower": rn(port.max_p), "EVSEMinimumChargePower": rn(0),
                    "EVSEMaximumChargeCurrent": rn(port.max_i), "EVSEMaximumVoltage": rn(port.max_v)}
            if self.bpt:
                mode.update({"EVSEMaximumDischargePower": rn(port.max_p), "EVSEMinimumDischargePower": rn(0),
                             "EVSEMaximumDischargeCurrent": rn(port.max_i), "EVSEMinimumVoltage": rn(port.min_v)})
                return {"BPT_Dynamic_DC_CLResControlMode": mode}
            return {"Dynamic_DC_CLResControlMode": mode}
        mode = {"EVSEMaximumChargePower": rn(port.max_p), "EVSEMaximumChargeCurrent": rn(port.max_i),
                "EVSEMaximumVoltage": rn(port.max_v)}
        if self.bpt:
            mode.update({"EVSEMaximumDischargePower": rn(port.max_p), "EVSEMaximumDischargeCurrent": rn(port.max_i),
                         "EVSEMinimumVoltage": rn(port.min_v)})
            return {"BPT_Scheduled_DC_CLResControlMode": mode}
        return {"Scheduled_DC_CLResControlMode": mode}

    def welding20(self, b, now):
        self.port.bleed(True)
        v = self.port.inlet_v()
        return {"ResponseCode": "OK", "EVSEPresentVoltage": rn(v if v > 0 else 0.0)}

    def session_stop20(self, b, now):
        self.port.stop()
        self._end("session stop", now)
        return {"ResponseCode": "OK"}

    def failed_body(self, res_name, code):
        body = {"ResponseCode": code}
        v = self.port.inlet_v()
        pres = rn(v if v > 0 else 0.0)
        if res_name == "SessionSetupRes":
            body["EVSEID"] = self.evse_id
        elif res_name == "AuthorizationSetupRes":
            body.update({"AuthorizationServices": ["EIM"], "CertificateInstallationService": False,
                         "EIM_ASResAuthorizationMode": {}})
        elif res_name in ("AuthorizationRes", "DC_CableCheckRes"):
            body["EVSEProcessing"] = "Finished"
        elif res_name == "ServiceDiscoveryRes":
            body.update({"ServiceRenegotiationSupported": False,
                         "EnergyTransferServiceList": {"Service": [{"ServiceID": SERVICE_DC, "FreeService": True}]}})
        elif res_name == "ServiceDetailRes":
            body.update({"ServiceID": SERVICE_DC, "ServiceParameterList": {"ParameterSet": [{
                "ParameterSetID": 1, "Parameter": [{"Name": "Connector", "intValue": CONNECTOR_EXTENDED}]}]}})
        elif res_name == "DC_ChargeParameterDiscoveryRes":
            body["DC_CPDResEnergyTransferMode"] = {
                "EVSEMaximumChargePower": rn(0), "EVSEMinimumChargePower": rn(0), "EVSEMaximumChargeCurrent": rn(0),
                "EVSEMinimumChargeCurrent": rn(0), "EVSEMaximumVoltage": rn(0), "EVSEMinimumVoltage": rn(0)}
        elif res_name == "ScheduleExchangeRes":
            body.update({"EVSEProcessing": "Finished", "Dynamic_SEResControlMode": {}})
        elif res_name in ("DC_PreChargeRes", "DC_WeldingDetectionRes"):
            body["EVSEPresentVoltage"] = pres
        elif res_name == "DC_ChargeLoopRes":
            body.update({"EVSEStatus": {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"},
                         "EVSEPresentCurrent": rn(0), "EVSEPresentVoltage": pres, "EVSEPowerLimitAchieved": False,
                         "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False})
            body.update(self._loop_limits())
        elif res_name == "PowerDeliveryRes":
            body["EVSEStatus"] = {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
        return body


Iso20Secc.HANDLERS = {
    "SessionSetupReq": Iso20Secc.session_setup,
    "AuthorizationSetupReq": Iso20Secc.authorization_setup,
    "AuthorizationReq": Iso20Secc.authorization,
    "ServiceDiscoveryReq": Iso20Secc.service_discovery,
    "ServiceDetailReq": Iso20Secc.service_detail,
    "ServiceSelectionReq": Iso20Secc.service_selection,
    "DC_ChargeParameterDiscoveryReq": Iso20Secc.charge_parameter_discovery,
    "ScheduleExchangeReq": Iso20Secc.schedule_exchange,
    "DC_CableCheckReq": Iso20Secc.cable_check20,
    "DC_PreChargeReq": Iso20Secc.precharge20,
    "PowerDeliveryReq": Iso20Secc.power_delivery20,
    "DC_ChargeLoopReq": Iso20Secc.charge_loop,
    "DC_WeldingDetectionReq": Iso20Secc.welding20,
    "SessionStopReq": Iso20Secc.session_stop20,
}
