"""DIN SPEC 70121 DC, SECC side, in the spec's message order. Sans-IO, MicroPython-compatible.

    s = DinSecc(port, profile, cfg)
    res = s.request(msg, now)   # decoded {"V2G_Message": ...} -> response message, or None (pending)
    res = s.poll(now)           # a pending response when it is ready, else None
    s.next_timer(now) / s.ended / s.end_reason / s.stats

Requirement IDs are DIN SPEC 70121:2014 [V2G-DC-nnn] as cited by EVerest EvseV2G
(everest-core modules/EvseV2G/din_server.cpp); values without an ID come from the
team's reference sheet (ccs-nacs-dc-handshake.md §6, §9, §11).

Table STATES: state -> (requests accepted). Any other request gets its response
type with FAILED_SequenceError [V2G-DC-390] (also an unexpected first request
[V2G-DC-666]); a SessionID other than the one set up gets FAILED_UnknownSession
[V2G-DC-391]; after any FAILED response the session ends and the connection is
closed [V2G-DC-665] [V2G-DC-116]; a regular end leaves the close to the EVCC
after SessionStopRes [V2G-DC-937] (secc.py lingers, then closes). Every response
is OK unless a rule below says otherwise [V2G-DC-388].

The box discharges a car that believes it is charging (sheet §9): the power
stage sinks current while CurrentDemandRes reports plausible values:
EVSEPresentVoltage is always the measured inlet voltage (never a voltage the
inlet does not have, never 0 while it is live), EVSEPresentCurrent follows the
car profile's strategy, EVSEMaximum{Voltage,Current,Power}Limit are always
present (cars that need them: ccs32clara PR #59).
"""
from micropython import const

from firmware.protocols.ccs import port as P

# ---------------------------------------------------------------- states (EvseV2G names, spec order)
WAIT_SESSION_SETUP = const(0)
WAIT_SERVICE_DISCOVERY = const(1)
WAIT_PAYMENT_SELECTION = const(2)
WAIT_AUTHORIZATION = const(3)
WAIT_CHARGE_PARAMETER = const(4)
WAIT_CABLE_CHECK = const(5)
WAIT_PRECHARGE = const(6)
WAIT_CURRENT_DEMAND = const(7)
WAIT_WELDING_OR_STOP = const(8)
ENDED = const(9)

STATE_NAMES = ("WaitSessionSetup", "WaitServiceDiscovery", "WaitServicePaymentSelection",
               "WaitContractAuthentication", "WaitChargeParameterDiscovery", "WaitCableCheck",
               "WaitPreCharge", "WaitCurrentDemand", "WaitWeldingDetectionOrSessionStop", "Ended")

# requests each state accepts: the next expected request after each response
STATES = (
    ("SessionSetupReq",),                           # first request after SAP [V2G-DC-666]
    ("ServiceDiscoveryReq",),                       # after SessionSetupRes [V2G-DC-438]
    ("ServicePaymentSelectionReq",),                # after ServiceDiscoveryRes [V2G-DC-441]
    ("ContractAuthenticationReq",),                 # after ServicePaymentSelectionRes [V2G-DC-444]
    ("ChargeParameterDiscoveryReq",),               # after ContractAuthenticationRes Finished [V2G-DC-497]
    ("CableCheckReq",),                             # after CPD Finished [V2G-DC-453] (Ongoing: CPD again [V2G-DC-498])
    ("PreChargeReq", "PowerDeliveryReq"),           # after CableCheck Finished + Valid/Warning + EVSE_Ready
                                                    # [V2G-DC-499] (Ongoing: CableCheck again [V2G-DC-455]);
                                                    # after PreChargeRes [V2G-DC-458]
    ("CurrentDemandReq", "PowerDeliveryReq"),       # after PowerDelivery ReadyToChargeState=true [V2G-DC-462]
    ("WeldingDetectionReq", "SessionStopReq"),      # after PowerDelivery ReadyToChargeState=false [V2G-DC-459]
    (),
)

# timeouts, ms
SEQUENCE_TIMEOUT_MS = const(60000)      # V2G_SECC_Sequence_Timeout (sheet §6)
CABLE_CHECK_LIMIT_MS = const(38000)     # SECC performance for the CableCheck loop (sheet §6, unconfirmed)
POWER_DELIVERY_WAIT_MS = const(1500)    # contactor close; below the EV's 2 s PowerDelivery timeout
CPD_ONGOING_LIMIT_MS = const(300)       # answer Finished quickly: some cars wait only ~400 ms (FreeV2G #170)

ENERGY_TYPES = ("DC_core", "DC_extended")   # both accepted (issue 11; DIN Ed.3 DC_core for NACS)
SERVICE_ID_CHARGING = const(1)


def pv(value, unit):
    """A DIN PhysicalValue with the largest precision that fits a short."""
    m = -1
    v = int(round(value * 10))
    while v > 32767 or v < -32768:
        m += 1
        v = int(round(value / (10 ** m)))
    return {"Multiplier": m, "Unit": unit, "Value": v}


def val(p, default=None):
    """float of a PhysicalValue dict (or default if absent)."""
    if p is None:
        return default
    m = p.get("Multiplier", 0)
    v = p.get("Value", 0)
    return v * (10 ** m) if m >= 0 else v / (10 ** -m)


class DinSecc:
    STATES = STATES
    HANDLERS = {}      # filled below the class (request name -> handler)

    def __init__(self, port, profile, cfg=None, session_id=None):
        cfg = cfg or {}
        self.port = port
        self.profile = profile
        self.evse_id = cfg.get("evse_id", b"\x00")
        self.session_id = session_id or b"\x00" * 7 + b"\x01"
        self.state = WAIT_SESSION_SETUP
        self.ended = False
        self.end_reason = ""
        self.stop_requested = ""       # "" or a reason: answer EVSE_Shutdown from now on
        self.pending = None            # (name, body, since) of a request waiting for the port
        self.last_res_at = None
        self.t0 = None
        self.phase_at = {}             # request name -> ms after the session start when first seen
        self.counts = {}
        self.order = []                # [name, count] runs of requests answered
        self.ev = {"max_v": None, "max_a": None, "max_w": None, "soc": None, "target_v": None,
                   "target_a": None, "evccid": b"", "energy": None, "error": "NO_ERROR"}
        self.iso_valid_seen = False
        self.cable_started = None
        self.loop_started = None
        self.cd_count = 0
        self._cur_res = ""
        self.close_asked = False

    # ------------------------------------------------------------ helpers
    def _status(self, ready=True):
        """DC_EVSEStatus. Isolation per profile (see profiles.py); never "Invalid" after a passed test."""
        port = self.port
        iso = port.isolation()
        st = {}
        if iso == P.ISO_FAULT:
            st["EVSEIsolationStatus"] = "Fault"
        elif iso == P.IMD_WARNING:
            st["EVSEIsolationStatus"] = "Warning"
        elif iso == P.ISO_VALID or (self.iso_valid_seen and self.profile.get("isolation_hold", True)):
            st["EVSEIsolationStatus"] = "Valid"
        elif self.profile.get("isolation_before"):
            st["EVSEIsolationStatus"] = self.profile["isolation_before"]
        if port.fault() or iso == P.ISO_FAULT:
            code = "EVSE_EmergencyShutdown"
        elif self.stop_requested:
            code = "EVSE_Shutdown"
        else:
            code = "EVSE_Ready" if ready else "EVSE_NotReady"
        st["EVSEStatusCode"] = code
        st["NotificationMaxDelay"] = 0
        st["EVSENotification"] = "StopCharging" if code != "EVSE_Ready" and code != "EVSE_NotReady" else "None"
        return st

    def _present_v(self):
        v = self.port.inlet_v()
        return pv(v if v > 0 else 0.0, "V")

    def _limits(self):
        port = self.port
        return (pv(port.max_v, "V"), pv(port.max_i, "A"), pv(port.max_p, "W"))

    def _ev_status(self, st):
        if isinstance(st, dict):
            if "EVRESSSOC" in st:
                self.ev["soc"] = st["EVRESSSOC"]
            self.ev["error"] = st.get("EVErrorCode", "NO_ERROR")

    def stop(self, reason):
        """User stop / box decision: answer EVSE_Shutdown from the next response on."""
        if not self.stop_requested:
            self.stop_requested = reason

    # ------------------------------------------------------------ entry points
    def request(self, msg, now):
        if self.t0 is None:
            self.t0 = now
        if self.ended:
            return None
        try:
            name, sid, content = self.split(msg)
        except (KeyError, TypeError):
            self._end("malformed request", now)
            return None
        self.pending = None
        self._count(name, now)
        res_name = name[:-3] + "Res"
        if name not in self.STATES[self.state]:
            # [V2G-DC-390] request not expected in this state
            return self._fail(res_name, "FAILED_SequenceError", "sequence error: %s in state %d" % (
                name, self.state), now)
        if name != "SessionSetupReq" and sid != self.session_id:
            return self._fail(res_name, "FAILED_UnknownSession", "unknown session", now)   # [V2G-DC-391]
        return self._run(name, content, now)

    def split(self, msg):
        """(request name, SessionID, request content) of a decoded message; KeyError if none."""
        v2g = msg["V2G_Message"]
        body = v2g["Body"]
        name = None
        for k in body:
            name = k
        if name is None or not name.endswith("Req"):
            raise KeyError("no request in the body")
        return name, v2g["Header"].get("SessionID"), body[name]

    def poll(self, now):
        """A pending response when the port has caught up (or its deadline passed)."""
        if self.pending is None or self.ended:
            return None
        name, body, _since = self.pending
        return self._run(name, body, now)

    def next_timer(self, now):
        """ms until handle_timer must run, or None."""
        if self.ended:
            return None
        if self.pending is not None:
            return 10
        if self.last_res_at is None:
            return None
        return max(0, self.last_res_at + SEQUENCE_TIMEOUT_MS - now)

    def handle_timer(self, now):
        if self.ended or self.last_res_at is None or self.pending is not None:
            return
        if now - self.last_res_at >= SEQUENCE_TIMEOUT_MS:
            self._end("sequence timeout", now)     # V2G_SECC_Sequence_Timeout

    # ------------------------------------------------------------ internals
    def _count(self, name, now):
        self.counts[name] = self.counts.get(name, 0) + 1
        if name not in self.phase_at:
            self.phase_at[name] = now - self.t0
        if self.order and self.order[-1][0] == name:
            self.order[-1][1] += 1
        else:
            self.order.append([name, 1])

    def _msg(self, res_name, body, now):
        self.last_res_at = now
        return {"V2G_Message": {"Header": {"SessionID": self.session_id}, "Body": {res_name: body}}}

    def _fail(self, res_name, code, reason, now):
        body = self.failed_body(res_name, code)
        self._end(reason, now)                      # [V2G-DC-665] send, then terminate
        return self._msg(res_name, body, now)

    def _end(self, reason, now):
        if not self.ended:
            self.ended = True
            self.end_reason = reason
            self.state = ENDED
            self.port.stop()

    def _run(self, name, body, now):
        self._cur_res = name[:-3] + "Res"
        h = self.HANDLERS[name]
        r = h(self, body, now)
        if r is None:
            if self.pending is None:
                self.pending = (name, body, now)
            return None
        self.pending = None
        return self._msg(name[:-3] + "Res", r, now)

    # ------------------------------------------------------------ handlers, spec order
    def session_setup(self, b, now):
        # [V2G-DC-436]: new SessionID, EVSEID; OK_NewSessionEstablished [V2G-DC-393]
        self.ev["evccid"] = b.get("EVCCID", b"")
        self.state = WAIT_SERVICE_DISCOVERY
        return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": self.evse_id}

    def service_discovery(self, b, now):
        # [V2G-DC-440]; ServiceName/ServiceScope not used [V2G-DC-628] [V2G-DC-629];
        # only ExternalPayment in DIN
        self.state = WAIT_PAYMENT_SELECTION
        return {"ResponseCode": "OK",
                "PaymentOptions": {"PaymentOption": ["ExternalPayment"]},
                "ChargeService": {"ServiceTag": {"ServiceID": SERVICE_ID_CHARGING, "ServiceCategory": "EVCharging"},
                                  "FreeService": False,
                                  "EnergyTransferType": self.profile.get("energy_transfer", "DC_extended")}}

    def payment_selection(self, b, now):
        # [V2G-DC-443]
        if b.get("SelectedPaymentOption") != "ExternalPayment":
            return self._fail_body("FAILED_PaymentSelectionInvalid", "payment option", now)    # [V2G-DC-395]
        sel = (b.get("SelectedServiceList") or {}).get("SelectedService") or []
        if len(sel) != 1 or sel[0].get("ServiceID") != SERVICE_ID_CHARGING:
            return self._fail_body("FAILED_ServiceSelectionInvalid", "service selection", now)  # [V2G-DC-396]
        self.state = WAIT_AUTHORIZATION
        return {"ResponseCode": "OK"}

    def contract_authentication(self, b, now):
        # [V2G-DC-494]: external identification is done; Finished -> [V2G-DC-497]
        self.state = WAIT_CHARGE_PARAMETER
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}

    def charge_parameter_discovery(self, b, now):
        # [V2G-DC-445]
        if b.get("EVRequestedEnergyTransferType") not in ENERGY_TYPES:
            return self._fail_body("FAILED_WrongEnergyTransferType", "energy transfer type", now)   # [V2G-DC-397]
        cp = b.get("DC_EVChargeParameter")
        if cp is None:
            return self._fail_body("FAILED_WrongChargeParameter", "no DC charge parameters", now)  # [V2G-DC-398]
        ev = self.ev
        ev["max_v"] = val(cp.get("EVMaximumVoltageLimit"))
        ev["max_a"] = val(cp.get("EVMaximumCurrentLimit"))
        ev["max_w"] = val(cp.get("EVMaximumPowerLimit"))
        ev["energy"] = val(cp.get("EVEnergyRequest"))
        self._ev_status(cp.get("DC_EVStatus"))
        port = self.port
        mv, mi, mp = self._limits()
        pmax = int(min(port.max_p, 32767))   # PMax is a short in W; scaling is ambiguous (pyPLC #14)
        self.state = WAIT_CABLE_CHECK        # [V2G-DC-453]
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished",
                "SAScheduleList": _schedule(pmax),
                "DC_EVSEChargeParameter": {
                    "DC_EVSEStatus": self._status(),
                    "EVSEMaximumCurrentLimit": mi, "EVSEMaximumPowerLimit": mp, "EVSEMaximumVoltageLimit": mv,
                    "EVSEMinimumCurrentLimit": pv(port.min_i, "A"), "EVSEMinimumVoltageLimit": pv(port.min_v, "V"),
                    "EVSEPeakCurrentRipple": pv(port.ripple_a, "A")}}

    def cable_check(self, b, now):
        # [V2G-DC-454]; the car is in CP state C by now [V2G-DC-547] (the pilot core sees it, not
        # this one). EVSEProcessing Ongoing until the isolation test has a result; Finished only
        # with EVSEIsolationStatus Valid / Warning [V2G-DC-499]; the status is never "Invalid" after
        # a passed test (profiles.py isolation_hold: an Audi Q4 aborts on it, sheet §9)
        self._ev_status(b.get("DC_EVStatus"))
        port = self.port
        if self.cable_started is None:
            self.cable_started = now
            port.cable_check(self.test_voltage())
        iso = port.isolation()
        if iso == P.ISO_FAULT:
            port.cable_check(0)
            return self._fail_body("FAILED", "isolation fault in CableCheck", now)
        if iso in (P.ISO_VALID, P.IMD_WARNING):
            self.iso_valid_seen = True
            port.cable_check(0)      # end the test: output below 60 V before Finished (IEC 61851-23)
        if self.iso_valid_seen and port.cable_check_done():
            self.state = WAIT_PRECHARGE
            return {"ResponseCode": "OK", "DC_EVSEStatus": self._status(), "EVSEProcessing": "Finished"}
        if now - self.cable_started > CABLE_CHECK_LIMIT_MS:
            return self._fail_body("FAILED", "CableCheck not finished in time", now)
        st = self._status()
        return {"ResponseCode": "OK", "DC_EVSEStatus": st, "EVSEProcessing": "Ongoing"}

    def test_voltage(self):
        """IEC 61851-23:2023 as EVerest applies it: min(500, EVmax + 50) if EVmax <= 500 V,
        else min(EVSEmax, 1.1 EVmax) (sheet §6 #7)."""
        evmax = self.ev["max_v"] or self.port.max_v
        if evmax <= 500:
            v = min(500.0, evmax + 50.0)
        else:
            v = min(self.port.max_v, 1.1 * evmax)
        return min(v, self.port.max_v)

    def precharge(self, b, now):
        # [V2G-DC-457]; EVSEPresentVoltage is the measured inlet voltage, never one it does not have
        self._ev_status(b.get("DC_EVStatus"))
        tv = val(b.get("EVTargetVoltage"), 0.0)
        ta = val(b.get("EVTargetCurrent"), 0.0)
        self.ev["target_v"] = tv
        if tv > self.port.max_v:
            return self._fail_body("FAILED", "precharge target above the box maximum", now)
        # physical precharge from the box's source at <= 2 A (DIN: EVTargetCurrent <= 2 A)
        self.port.precharge(tv, min(ta if ta > 0 else P.PRECHARGE_MAX_A, P.PRECHARGE_MAX_A))
        return {"ResponseCode": "OK", "DC_EVSEStatus": self._status(), "EVSEPresentVoltage": self._present_v()}

    def power_delivery(self, b, now):
        # [V2G-DC-461]; ReadyToChargeState=true while the EVSE cannot apply it:
        # FAILED_PowerDeliveryNotApplied [V2G-DC-401]; true again after the loop: FAILED
        port = self.port
        p = b.get("DC_EVPowerDeliveryParameter")
        if isinstance(p, dict):
            self._ev_status(p.get("DC_EVStatus"))
        start = b.get("ReadyToChargeState")
        if start and self.state == WAIT_PRECHARGE:
            tol = self.profile.get("precharge_tol_v", 20.0)
            tv = self.ev["target_v"]
            waited = now - self.pending[2] if self.pending is not None else 0
            if tv is None:
                return self._fail_body("FAILED_PowerDeliveryNotApplied", "no PreCharge target", now)
            if abs(port.inlet_v() - tv) > tol:
                # the car ended PreCharge early (some count loops, not volts): keep precharging
                # and close only once the inlet is really there, within the response time
                if waited < POWER_DELIVERY_WAIT_MS:
                    return None
                return self._fail_body("FAILED_PowerDeliveryNotApplied", "inlet not precharged", now)
            if not port.closed():
                if not self.close_asked:
                    self.close_asked = True
                    port.close()
                if waited < POWER_DELIVERY_WAIT_MS:
                    return None
                return self._fail_body("FAILED_PowerDeliveryNotApplied", "contactors did not close", now)
            self.state = WAIT_CURRENT_DEMAND
            self.loop_started = now
            return {"ResponseCode": "OK", "DC_EVSEStatus": self._status()}
        if not start and self.state in (WAIT_PRECHARGE, WAIT_CURRENT_DEMAND):
            # end of energy transfer: current to 0, open, bleed the link for WeldingDetection
            port.limits(0, 0)
            port.open()
            port.precharge(0, 0)
            port.bleed(True)
            self.state = WAIT_WELDING_OR_STOP
            return {"ResponseCode": "OK", "DC_EVSEStatus": self._status(ready=False)}
        return self._fail_body("FAILED_SequenceError", "PowerDelivery start in the charge loop", now)

    def current_demand(self, b, now):
        # [V2G-DC-464]; EVSEMaximum{Voltage,Current,Power}Limit always present (optional in the
        # schema; cars that need them: ccs32clara PR #59); EVSE_Shutdown to end the loop
        port = self.port
        ev = self.ev
        self._ev_status(b.get("DC_EVStatus"))
        ev["target_a"] = val(b.get("EVTargetCurrent"), 0.0)
        ev["target_v"] = val(b.get("EVTargetVoltage"), ev["target_v"])
        ev["max_a"] = val(b.get("EVMaximumCurrentLimit"), ev["max_a"])
        ev["max_w"] = val(b.get("EVMaximumPowerLimit"), ev["max_w"])
        ev["max_v"] = val(b.get("EVMaximumVoltageLimit"), ev["max_v"])
        self.cd_count += 1
        # reasons to stop the discharge (answered with EVSE_Shutdown)
        soc = ev["soc"]
        if soc is not None and soc <= self.profile.get("soc_floor", 20):
            self.stop("soc-floor")
        if port.fault():
            self.stop("box-fault")
        if not port.closed():
            self.stop("contactors-open")
        v = port.inlet_v()
        # discharge limit: DIN has no discharge fields; use the car's charge limits (sheet §9 risk 5)
        lim_a = port.max_i
        if ev["max_a"] is not None:
            lim_a = min(lim_a, ev["max_a"])
        lim_w = port.max_p
        if ev["max_w"] is not None:
            lim_w = min(lim_w, ev["max_w"])
        if v > 1:
            lim_a = min(lim_a, lim_w / v)
        if self.stop_requested:
            lim_a = 0.0
            lim_w = 0.0
        port.limits(lim_a, lim_w)
        mv, mi, mp = self._limits()
        return {"ResponseCode": "OK", "DC_EVSEStatus": self._status(),
                "EVSEPresentVoltage": self._present_v(),
                "EVSEPresentCurrent": pv(self.reported_current(), "A"),
                "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False,
                "EVSEPowerLimitAchieved": False,
                "EVSEMaximumVoltageLimit": mv, "EVSEMaximumCurrentLimit": mi, "EVSEMaximumPowerLimit": mp}

    def reported_current(self):
        """EVSEPresentCurrent per the profile's strategy; never below min_reported_a (sheet §9 risks 2, 3)."""
        prof = self.profile
        s = prof.get("reported_current", "fixed")
        if s == "request":
            a = min(self.ev["target_a"] or 0.0, self.port.max_i)
        elif s == "measured":
            a = abs(self.port.current_a())
        else:
            a = prof.get("reported_a", 1.0)
        floor = prof.get("min_reported_a", 1.0)
        if a < floor:
            a = floor
        return a

    def welding_detection(self, b, now):
        # the link is being bled: the reported (measured) voltage falls (sheet §9 risk 7)
        self._ev_status(b.get("DC_EVStatus"))
        self.port.bleed(True)
        return {"ResponseCode": "OK", "DC_EVSEStatus": self._status(ready=False),
                "EVSEPresentVoltage": self._present_v()}

    def session_stop(self, b, now):
        self.port.stop()
        self._end("session stop", now)
        return {"ResponseCode": "OK"}

    def _fail_body(self, code, reason, now):
        """A handler's FAILED answer: the full response body with `code`, then the session ends."""
        name = self._cur_res
        self._end(reason, now)
        return self.failed_body(name, code)

    def failed_body(self, res_name, code):
        return _failed_body(res_name, code, self)


def _schedule(pmax):
    """One SAScheduleTuple, one PMax entry covering 24 h; no SalesTariff [V2G-DC-554]."""
    return {"SAScheduleTuple": [{
        "SAScheduleTupleID": 1,
        "PMaxSchedule": {"PMaxScheduleID": 1, "PMaxScheduleEntry": [{
            "RelativeTimeInterval": {"start": 0, "duration": 86400}, "PMax": pmax}]}}]}


def _failed_body(res_name, code, s):
    """A schema-valid response body of type res_name carrying a FAILED code."""
    body = {"ResponseCode": code}
    z_v = pv(0.0, "V")
    port = s.port
    v = port.inlet_v()
    pres = pv(v if v > 0 else 0.0, "V")
    st = s._status(ready=False)
    st["EVSEStatusCode"] = "EVSE_Shutdown" if st["EVSEStatusCode"] == "EVSE_Ready" else st["EVSEStatusCode"]
    st["EVSENotification"] = "StopCharging"
    if res_name == "SessionSetupRes":
        body["EVSEID"] = s.evse_id
    elif res_name == "ServiceDiscoveryRes":
        body["PaymentOptions"] = {"PaymentOption": ["ExternalPayment"]}
        body["ChargeService"] = {"ServiceTag": {"ServiceID": SERVICE_ID_CHARGING, "ServiceCategory": "EVCharging"},
                                 "FreeService": False, "EnergyTransferType": "DC_extended"}
    elif res_name == "ContractAuthenticationRes":
        body["EVSEProcessing"] = "Finished"
    elif res_name == "ChargeParameterDiscoveryRes":
        body["EVSEProcessing"] = "Finished"
        body["SAScheduleList"] = _schedule(0)
        body["DC_EVSEChargeParameter"] = {
            "DC_EVSEStatus": st, "EVSEMaximumCurrentLimit": pv(0.0, "A"), "EVSEMaximumVoltageLimit": z_v,
            "EVSEMinimumCurrentLimit": pv(0.0, "A"), "EVSEMinimumVoltageLimit": z_v,
            "EVSEPeakCurrentRipple": pv(0.0, "A")}
    elif res_name == "CableCheckRes":
        body["DC_EVSEStatus"] = st
        body["EVSEProcessing"] = "Finished"
    elif res_name in ("PreChargeRes", "WeldingDetectionRes"):
        body["DC_EVSEStatus"] = st
        body["EVSEPresentVoltage"] = pres
    elif res_name == "PowerDeliveryRes":
        body["DC_EVSEStatus"] = st
    elif res_name == "CurrentDemandRes":
        mv, mi, mp = s._limits()
        body.update({"DC_EVSEStatus": st, "EVSEPresentVoltage": pres, "EVSEPresentCurrent": pv(0.0, "A"),
                     "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False,
                     "EVSEPowerLimitAchieved": False, "EVSEMaximumVoltageLimit": mv,
                     "EVSEMaximumCurrentLimit": mi, "EVSEMaximumPowerLimit": mp})
    return body


DinSecc.HANDLERS = {
    "SessionSetupReq": DinSecc.session_setup,
    "ServiceDiscoveryReq": DinSecc.service_discovery,
    "ServicePaymentSelectionReq": DinSecc.payment_selection,
    "ContractAuthenticationReq": DinSecc.contract_authentication,
    "ChargeParameterDiscoveryReq": DinSecc.charge_parameter_discovery,
    "CableCheckReq": DinSecc.cable_check,
    "PreChargeReq": DinSecc.precharge,
    "PowerDeliveryReq": DinSecc.power_delivery,
    "CurrentDemandReq": DinSecc.current_demand,
    "WeldingDetectionReq": DinSecc.welding_detection,
    "SessionStopReq": DinSecc.session_stop,
}
