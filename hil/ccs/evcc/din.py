"""Scripted DIN SPEC 70121 DC EVCC for what Josev's simulated EV cannot do. Sans-IO.

It plays the car on the peer side of a firmware MemoryTransport (the `ev_*` methods),
stepped with the same clock as the SECC:

    car = DinEvcc(transport, behaviour, inlet_v=lambda: port.inlet_v(), current_a=...)
    car.step(now)       # until car.done; car.result, car.responses, car.log

`behaviour` (dict, defaults in DEFAULT_CAR) is how real cars differ (issue 11 item 9):
  namespaces          offered in supportedAppProtocolReq, priority order (Tesla offers
                      urn:tesla:din:2018 first: pyPLC #31)
  energy_transfer     DC_extended or DC_core
  max_v/max_a/max_w   EVMaximum*Limit; battery_v the pack; soc start, soc_per_loop drop
  real_precharge      close only when the *real* inlet (inlet_v()) is within precharge_tol_v
                      of the pack, looping in PreCharge until precharge_timeout_ms
  loop_limit_ms       end the CurrentDemand loop after this long (PowerDelivery stop)
  loops               end after this many CurrentDemand (0: no limit)
  current_diff_a      abort (FAILED_ChargingCurrentdifferential) when reported and real
                      current differ by more than this for current_diff_ms (0: off)
  zero_current_ms     abort when the reported current is 0 for this long (0: off)
  bad_isolation       EVSEIsolationStatus values that make the car abort after CableCheck
  cpd_patience_ms     abort if a ChargeParameterDiscoveryRes takes longer than this
  target_a            EVTargetCurrent in the loop
  pace_ms             interval between two requests of the same loop (CableCheck, PreCharge,
                      CurrentDemand, WeldingDetection)

Every response is checked for its type; a wrong type, a FAILED code, a missing
response within the message timeout (2 s; CurrentDemand 250 ms, DIN Table 75/77 as
in the sheet §6) ends the session with a named result.
"""
from firmware.protocols.ccs import sdp, v2gtp
from firmware.v2g.exi import EXIError, codec_for

DEFAULT_CAR = {
    "namespaces": ("urn:din:70121:2012:MsgDef",),
    "energy_transfer": "DC_extended",
    "max_v": 420.0, "max_a": 125.0, "max_w": 50000.0, "battery_v": 380.0,
    "soc": 60, "soc_per_loop": 0.0,
    "real_precharge": True, "precharge_tol_v": 20.0, "precharge_timeout_ms": 7000,
    "loop_limit_ms": 0, "loops": 12,
    "current_diff_a": 0.0, "current_diff_ms": 1000,
    "zero_current_ms": 0,
    "bad_isolation": ("Invalid",),
    "cpd_patience_ms": 2000,
    "target_a": 20.0,
    "evccid": b"\x02\x00\x00\x00\x00\x01",
    "pace_ms": 100,
}
LOOPED = ("CableCheck", "PreCharge", "CurrentDemand", "WeldingDetection")

MSG_TIMEOUT_MS = 2000
CD_TIMEOUT_MS = 250
SEQ = ("SessionSetup", "ServiceDiscovery", "ServicePaymentSelection", "ContractAuthentication",
       "ChargeParameterDiscovery", "CableCheck", "PreCharge", "PowerDeliveryStart", "CurrentDemand",
       "PowerDeliveryStop", "WeldingDetection", "SessionStop")


def _pv(v, unit, m=0):
    return {"Multiplier": m, "Unit": unit, "Value": int(round(v / (10 ** m)))}


def _val(p):
    m = p["Multiplier"]
    return p["Value"] * (10 ** m) if m >= 0 else p["Value"] / (10 ** -m)


class DinEvcc:
    def __init__(self, transport, behaviour=None, inlet_v=None, current_a=None, ev_ip=None):
        car = dict(DEFAULT_CAR)
        if behaviour:
            car.update(behaviour)
        self.car = car
        self.t = transport
        self.inlet_v = inlet_v or (lambda: 0.0)
        self.current_a = current_a or (lambda: 0.0)
        self.ep = (ev_ip or b"\xfe\x80" + bytes(13) + b"\x02", 50123)
        self.app = codec_for("app")
        self.din = codec_for("din")
        self.phase = "sdp"
        self.cid = None
        self.sid = bytes(8)
        self.waiting = None         # (response name, deadline)
        self.buf = v2gtp.Deframer()
        self.done = False
        self.result = ""
        self.responses = []
        self.log = []
        self.soc = float(car["soc"])
        self.loop_start = None
        self.loops = 0
        self.pre_start = None
        self.diff_since = None
        self.zero_since = None
        self.last = {}
        self.t_start = None
        self.first_cd_at = None
        self.outbox = None
        self.last_sent = {}

    # ------------------------------------------------------------ plumbing
    def _send(self, name, body, now):
        """Send now, or for loop messages after the car's pacing interval (`pace_ms`)."""
        if name in LOOPED and self.car["pace_ms"] and self.last_sent.get(name) is not None:
            self.outbox = (name, body, self.last_sent[name] + self.car["pace_ms"])
            self.waiting = None
            return
        self._send_now(name, body, now)

    def _send_now(self, name, body, now):
        self.last_sent[name] = now
        msg = {"V2G_Message": {"Header": {"SessionID": self.sid}, "Body": {name + "Req": body}}}
        self.t.ev_send(self.cid, v2gtp.frame(v2gtp.EXI, self.din.encode(msg)))
        self.waiting = (name + "Res", now + (CD_TIMEOUT_MS if name == "CurrentDemand" else MSG_TIMEOUT_MS))

    def _end(self, result, now):
        if not self.done:
            self.done = True
            self.result = result
            self.log.append((now, result))
            if self.cid is not None:
                self.t.ev_close(self.cid)

    def _stop_loop(self, why, now):
        self.log.append((now, "loop ends: " + why))
        self.phase = "PowerDeliveryStop"
        self._send("PowerDelivery", {"ReadyToChargeState": False, "DC_EVPowerDeliveryParameter": {
            "DC_EVStatus": self._st(), "ChargingComplete": True}}, now)

    def _st(self):
        return {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": int(self.soc)}

    # ------------------------------------------------------------ step
    def step(self, now):
        if self.done:
            return
        if self.t_start is None:
            self.t_start = now
        if self.phase == "sdp":
            self.t.ev_sdp(self.ep, sdp.encode_request())
            self.phase = "sdp-wait"
            self.waiting = ("sdp", now + 250)
            return
        if self.phase == "sdp-wait":
            for _dst, dg in self.t.ev_sdp_replies():
                sdp.decode_response(dg)
                self.cid = self.t.ev_connect()
                req = {"supportedAppProtocolReq": {"AppProtocol": [
                    {"ProtocolNamespace": ns, "VersionNumberMajor": 2 if "din" in ns else 1, "VersionNumberMinor": 0,
                     "SchemaID": i + 1, "Priority": i + 1} for i, ns in enumerate(self.car["namespaces"])]}}
                self.t.ev_send(self.cid, v2gtp.frame(v2gtp.EXI, self.app.encode(req)))
                self.phase = "sap"
                self.waiting = ("supportedAppProtocolRes", now + MSG_TIMEOUT_MS)
                return
            if now > self.waiting[1]:
                self._end("no SDP response", now)
            return
        if self.outbox is not None:
            if now < self.outbox[2]:
                return
            name, body, _at = self.outbox
            self.outbox = None
            self._send_now(name, body, now)
        data = self.t.ev_recv(self.cid)
        if data:
            self.buf.feed(data)
        m = self.buf.next()
        if m is None and self.cid is not None and self.t.ev_closed(self.cid):
            # bytes sent before the close are delivered first, as TCP does
            self._end("SECC closed the connection in %s" % self.phase, now)
            return
        if m is None:
            if self.waiting is not None and now > self.waiting[1]:
                self._end("timeout waiting for %s" % self.waiting[0], now)
            elif self.phase == "CurrentDemand" and self.waiting is None:
                pass
            return
        try:
            msg = (self.app if self.phase == "sap" else self.din).decode(m[1])
        except EXIError as e:
            self._end("EXI error: %s" % e, now)
            return
        if self.phase == "sap":
            res = msg.get("supportedAppProtocolRes", {})
            if not res.get("ResponseCode", "").startswith("OK") or res.get("SchemaID") is None:
                self._end("SAP failed", now)
                return
            chosen = self.car["namespaces"][res["SchemaID"] - 1]
            if "din:70121" not in chosen:
                # a car that gets its proprietary namespace expects another dialect: silence (pyPLC #31)
                self._end("SECC chose %s" % chosen, now)
                return
            self.phase = "SessionSetup"
            self._send("SessionSetup", {"EVCCID": self.car["evccid"]}, now)
            return
        body = msg["V2G_Message"]["Body"]
        name = None
        for k in body:
            name = k
        if self.waiting is None or name != self.waiting[0]:
            self._end("unexpected %s while waiting for %s" % (name, self.waiting and self.waiting[0]), now)
            return
        res = body[name]
        self.responses.append(name)
        self.waiting = None
        code = res.get("ResponseCode", "")
        if not code.startswith("OK"):
            self._end("%s %s" % (name, code), now)
            return
        self._on(name, res, msg["V2G_Message"]["Header"], now)

    def _on(self, name, res, hdr, now):
        car = self.car
        ph = self.phase
        if ph == "SessionSetup":
            self.sid = hdr["SessionID"]
            self.phase = "ServiceDiscovery"
            self._send("ServiceDiscovery", {}, now)
        elif ph == "ServiceDiscovery":
            self.phase = "ServicePaymentSelection"
            self._send("ServicePaymentSelection", {"SelectedPaymentOption": "ExternalPayment", "SelectedServiceList": {
                "SelectedService": [{"ServiceID": res["ChargeService"]["ServiceTag"]["ServiceID"]}]}}, now)
        elif ph == "ServicePaymentSelection":
            self.phase = "ContractAuthentication"
            self._send("ContractAuthentication", {}, now)
        elif ph == "ContractAuthentication":
            if res["EVSEProcessing"] == "Ongoing":
                self._send("ContractAuthentication", {}, now)
                return
            self.phase = "ChargeParameterDiscovery"
            self.cpd_at = now
            self._send_cpd(now)
        elif ph == "ChargeParameterDiscovery":
            if now - self.cpd_at > car["cpd_patience_ms"]:
                self._end("ChargeParameterDiscovery too slow", now)
                return
            if res["EVSEProcessing"] == "Ongoing":
                self._send_cpd(now)
                return
            self.phase = "CableCheck"
            self._send("CableCheck", {"DC_EVStatus": self._st()}, now)
        elif ph == "CableCheck":
            st = res["DC_EVSEStatus"]
            if res["EVSEProcessing"] == "Ongoing":
                self._send("CableCheck", {"DC_EVStatus": self._st()}, now)
                return
            iso = st.get("EVSEIsolationStatus", "absent")
            if iso in car["bad_isolation"] or st["EVSEStatusCode"] != "EVSE_Ready":
                self._end("isolation %s / %s after CableCheck" % (iso, st["EVSEStatusCode"]), now)
                return
            self.phase = "PreCharge"
            self.pre_start = now
            self._send_pre(now)
        elif ph == "PreCharge":
            real = self.inlet_v()
            rep = _val(res["EVSEPresentVoltage"])
            ok_rep = abs(rep - car["battery_v"]) <= car["precharge_tol_v"]
            ok_real = abs(real - car["battery_v"]) <= car["precharge_tol_v"] or not car["real_precharge"]
            if ok_rep and ok_real:
                self.phase = "PowerDeliveryStart"
                self._send("PowerDelivery", {"ReadyToChargeState": True, "DC_EVPowerDeliveryParameter": {
                    "DC_EVStatus": self._st(), "ChargingComplete": False}}, now)
                return
            if now - self.pre_start > car["precharge_timeout_ms"]:
                self._end("PreCharge timeout (reported %.0f V, real %.0f V)" % (rep, real), now)
                return
            self._send_pre(now)
        elif ph == "PowerDeliveryStart":
            self.phase = "CurrentDemand"
            self.loop_start = now
            self.first_cd_at = now
            self._send_cd(now)
        elif ph == "CurrentDemand":
            self.loops += 1
            st = res["DC_EVSEStatus"]
            rep_a = _val(res["EVSEPresentCurrent"])
            for k in ("EVSEMaximumVoltageLimit", "EVSEMaximumCurrentLimit", "EVSEMaximumPowerLimit"):
                if k not in res:
                    self._end("CurrentDemandRes without %s" % k, now)
                    return
            if abs(_val(res["EVSEPresentVoltage"]) - self.inlet_v()) > 20:
                self._end("EVSEPresentVoltage %.0f V but the inlet has %.0f V" % (
                    _val(res["EVSEPresentVoltage"]), self.inlet_v()), now)
                return
            if car["current_diff_a"]:
                if abs(rep_a - abs(self.current_a())) > car["current_diff_a"]:
                    if self.diff_since is None:
                        self.diff_since = now
                    elif now - self.diff_since >= car["current_diff_ms"]:
                        self._end("FAILED_ChargingCurrentdifferential", now)
                        return
                else:
                    self.diff_since = None
            if car["zero_current_ms"]:
                if rep_a <= 0:
                    if self.zero_since is None:
                        self.zero_since = now
                    elif now - self.zero_since >= car["zero_current_ms"]:
                        self._end("zero current timeout", now)
                        return
                else:
                    self.zero_since = None
            self.soc = max(0.0, self.soc - car["soc_per_loop"])
            if st["EVSEStatusCode"] in ("EVSE_Shutdown", "EVSE_EmergencyShutdown"):
                self._stop_loop("EVSE %s" % st["EVSEStatusCode"], now)
            elif car["loops"] and self.loops >= car["loops"]:
                self._stop_loop("%d loops" % self.loops, now)
            elif car["loop_limit_ms"] and now - self.loop_start >= car["loop_limit_ms"]:
                self._stop_loop("loop time limit", now)
            else:
                self._send_cd(now)
        elif ph == "PowerDeliveryStop":
            self.phase = "WeldingDetection"
            self.weld_n = 0
            self._send("WeldingDetection", {"DC_EVStatus": self._st()}, now)
        elif ph == "WeldingDetection":
            self.weld_n += 1
            if _val(res["EVSEPresentVoltage"]) > 40 and self.weld_n < 20:
                self._send("WeldingDetection", {"DC_EVStatus": self._st()}, now)
                return
            self.phase = "SessionStop"
            self._send("SessionStop", {}, now)
        elif ph == "SessionStop":
            self._end("completed", now)

    def _send_cpd(self, now):
        c = self.car
        self._send("ChargeParameterDiscovery", {
            "EVRequestedEnergyTransferType": c["energy_transfer"],
            "DC_EVChargeParameter": {"DC_EVStatus": self._st(),
                                     "EVMaximumCurrentLimit": _pv(c["max_a"], "A"),
                                     "EVMaximumPowerLimit": _pv(c["max_w"], "W", 1),
                                     "EVMaximumVoltageLimit": _pv(c["max_v"], "V")}}, now)

    def _send_pre(self, now):
        self._send("PreCharge", {"DC_EVStatus": self._st(), "EVTargetVoltage": _pv(self.car["battery_v"], "V"),
                                 "EVTargetCurrent": _pv(1, "A")}, now)

    def _send_cd(self, now):
        c = self.car
        self._send("CurrentDemand", {"DC_EVStatus": self._st(), "EVTargetCurrent": _pv(c["target_a"], "A"),
                                     "EVMaximumVoltageLimit": _pv(c["max_v"], "V"),
                                     "EVMaximumCurrentLimit": _pv(c["max_a"], "A"),
                                     "EVMaximumPowerLimit": _pv(c["max_w"], "W", 1),
                                     "ChargingComplete": False, "EVTargetVoltage": _pv(c["battery_v"], "V")}, now)
