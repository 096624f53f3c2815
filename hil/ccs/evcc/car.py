"""Scripted EVCC (the car's side of DIN SPEC 70121 DC and ISO 15118-2 DC) for what Josev's
simulated EV cannot do. Sans-IO; one car whatever protocol the SECC picks.

It plays the car on the peer side of a firmware MemoryTransport (the `ev_*` methods),
stepped with the same clock as the SECC:

    car = make_evcc(transport, behaviour, inlet_v=lambda: port.inlet_v(), current_a=...)
    car.step(now)       # until car.done; car.result, car.responses, car.log, car.protocol

This module is the behaviour, shared by both protocols; what differs per protocol (message
names, body shapes, which response field carries what, EV message timeouts) is a dialect:
hil/ccs/evcc/din.py (DIN SPEC 70121) and hil/ccs/evcc/iso2.py (ISO 15118-2). The car offers
`namespaces` in supportedAppProtocolReq and speaks the dialect of the namespace the SECC
selects; a namespace without a dialect (Tesla's urn:tesla:din:2018) leads to silence, as
with the real car (pyPLC #31).

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
  bad_isolation       EVSEIsolationStatus values that make the car abort: in the final
                      CableCheckRes and in every PreChargeRes / CurrentDemandRes after it
  cpd_patience_ms     abort if a ChargeParameterDiscoveryRes takes longer than this
  target_a            EVTargetCurrent in the loop
  pace_ms             interval between two requests of the same loop (CableCheck, PreCharge,
                      CurrentDemand, WeldingDetection)

Every response is checked for its type; a wrong type, a FAILED code, a missing response
within the dialect's message timeout ends the session with a named result.
"""
from firmware.protocols.ccs import sap, sdp, v2gtp
from firmware.v2g.exi import EXIError, codec_for

DEFAULT_CAR = {
    "namespaces": (sap.PROTOCOLS["din"][0],),
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
# steps of a session, protocol-neutral; the dialect names the message of each
LOOPED = ("CableCheck", "PreCharge", "CurrentDemand", "WeldingDetection")
SDP_TIMEOUT_MS = 250            # per SDP try (sheet §6 #0)
SDP_TRIES = 50                  # tries before giving up: DIN 70121 / ISO 15118-2 allow up to 50 (sheet §6 #0)
SAP_TIMEOUT_MS = 2000           # supportedAppProtocolReq (sheet §6 #1)


def pv(v, unit, m=0):
    """A PhysicalValue (DIN and ISO-2 share the shape) of v with multiplier m."""
    return {"Multiplier": m, "Unit": unit, "Value": int(round(v / (10 ** m)))}


def val(p):
    m = p["Multiplier"]
    return p["Value"] * (10 ** m) if m >= 0 else p["Value"] / (10 ** -m)


def namespace_version(ns):
    """(major, minor) the car offers for a namespace: the box's for those it knows, else 1.0."""
    for name in sap.PROTOCOLS:
        p = sap.PROTOCOLS[name]
        if p[0] == ns:
            return p[1], p[2]
    return 1, 0


class Evcc:
    def __init__(self, transport, behaviour=None, inlet_v=None, current_a=None, ev_ip=None, dialects=None):
        car = dict(DEFAULT_CAR)
        if behaviour:
            car.update(behaviour)
        self.car = car
        self.t = transport
        self.dialects = {d.namespace: d for d in dialects or ()}   # namespace -> dialect (din.DIN, iso2.ISO2)
        self.d = None               # the dialect of the protocol the SECC selected
        self.protocol = None        # its name ("din", "iso2")
        self.inlet_v = inlet_v or (lambda: 0.0)
        self.current_a = current_a or (lambda: 0.0)
        self.ep = (ev_ip or b"\xfe\x80" + bytes(13) + b"\x02", 50123)
        self.app = codec_for("app")
        self.codec = None
        self.phase = "sdp"          # what the car is doing, as the protocol names it
        self.step_name = "sdp"      # the same, protocol-neutral (LOOPED, dialect keys)
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
        self.cpd_at = None
        self.weld_n = 0
        self.since = {}             # condition -> first CurrentDemandRes it held in (diff, zero)
        self.service_id = None      # the charge service's ServiceID from ServiceDiscoveryRes
        self.schedule_id = None     # ISO-2: the SAScheduleTupleID the SECC offered
        self.t_start = None
        self.first_cd_at = None
        self.outbox = None
        self.last_sent = {}

    # ------------------------------------------------------------ plumbing
    def _go(self, step):
        self.step_name = step
        self.phase = self.d.phase_name(step)

    def _send(self, step, now):
        """Send the request of `step` now, or for loop messages after the car's pacing interval."""
        name, body = self.d.request(step, self)
        if step in LOOPED and self.car["pace_ms"] and self.last_sent.get(step) is not None:
            self.outbox = (step, name, body, self.last_sent[step] + self.car["pace_ms"])
            self.waiting = None
            return
        self._send_now(step, name, body, now)

    def _send_now(self, step, name, body, now):
        self.last_sent[step] = now
        msg = {"V2G_Message": {"Header": {"SessionID": self.sid}, "Body": {name + "Req": body}}}
        self.t.ev_send(self.cid, v2gtp.frame(v2gtp.EXI, self.codec.encode(msg)))
        self.waiting = (name + "Res", now + self.d.timeout_ms(name))

    def _end(self, result, now):
        if not self.done:
            self.done = True
            self.result = result
            self.log.append((now, result))
            if self.cid is not None:
                self.t.ev_close(self.cid)

    def _stop_loop(self, why, now):
        self.log.append((now, "loop ends: " + why))
        self._go("PowerDeliveryStop")
        self._send("PowerDeliveryStop", now)

    def ev_status(self):
        return {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": int(self.soc)}

    # ------------------------------------------------------------ step
    def step(self, now):
        if self.done:
            return
        if self.t_start is None:
            self.t_start = now
        if self.phase == "sdp":
            self.t.ev_sdp(self.ep, sdp.encode_request())
            self.sdp_tries = 1
            self.phase = self.step_name = "sdp-wait"
            self.waiting = ("sdp", now + SDP_TIMEOUT_MS)
            return
        if self.phase == "sdp-wait":
            for _dst, dg in self.t.ev_sdp_replies():
                sdp.decode_response(dg)
                self.cid = self.t.ev_connect()
                entries = []
                for i, ns in enumerate(self.car["namespaces"]):
                    major, minor = namespace_version(ns)
                    entries.append({"ProtocolNamespace": ns, "VersionNumberMajor": major,
                                    "VersionNumberMinor": minor, "SchemaID": i + 1, "Priority": i + 1})
                req = {"supportedAppProtocolReq": {"AppProtocol": entries}}
                self.t.ev_send(self.cid, v2gtp.frame(v2gtp.EXI, self.app.encode(req)))
                self.phase = self.step_name = "sap"
                self.waiting = ("supportedAppProtocolRes", now + SAP_TIMEOUT_MS)
                return
            if now > self.waiting[1]:
                self.sdp_tries += 1
                if self.sdp_tries > SDP_TRIES:
                    self._end("no SDP response", now)
                else:                   # a lost request or response: try again (lossy line)
                    self.t.ev_sdp(self.ep, sdp.encode_request())
                    self.waiting = ("sdp", now + SDP_TIMEOUT_MS)
            return
        if self.outbox is not None:
            if now < self.outbox[3]:
                return
            step, name, body, _at = self.outbox
            self.outbox = None
            self._send_now(step, name, body, now)
        if self.phase == "sap" and self.waiting is not None:
            up = getattr(self.t, "ev_connected", None)
            if up is not None and not up(self.cid):
                # a car's connect() returns once TCP is up (V2G_EVCC_CommunicationSetup_Timeout
                # covers it, sheet §6); the 2 s SAP timeout runs from then (lossy-line rigs)
                self.waiting = (self.waiting[0], now + SAP_TIMEOUT_MS)
        data = self.t.ev_recv(self.cid)
        try:
            if data:
                self.buf.feed(data)
            m = self.buf.next()
        except v2gtp.V2GTPError as e:
            self._end("V2GTP error: %s" % e, now)
            return
        if m is None and self.cid is not None and self.t.ev_closed(self.cid):
            # bytes sent before the close are delivered first, as TCP does
            self._end("SECC closed the connection in %s" % self.phase, now)
            return
        if m is None:
            if self.waiting is not None and now > self.waiting[1]:
                self._end("timeout waiting for %s" % self.waiting[0], now)
            return
        try:
            msg = (self.app if self.phase == "sap" else self.codec).decode(m[1])
        except EXIError as e:
            self._end("EXI error: %s" % e, now)
            return
        if self.phase == "sap":
            self._on_sap(msg, now)
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
        self._on(res, msg["V2G_Message"]["Header"], now)

    def _on_sap(self, msg, now):
        res = msg.get("supportedAppProtocolRes", {})
        sid = res.get("SchemaID")
        if not res.get("ResponseCode", "").startswith("OK") or sid is None:
            self._end("SAP failed", now)
            return
        if not 1 <= sid <= len(self.car["namespaces"]):
            self._end("SAP: SchemaID %s was not offered" % sid, now)
            return
        chosen = self.car["namespaces"][sid - 1]
        d = self.dialects.get(chosen)
        if d is None:
            # a car that gets its proprietary namespace expects another dialect: silence (pyPLC #31)
            self._end("SECC chose %s" % chosen, now)
            return
        self.d = d
        self.protocol = d.protocol
        self.codec = codec_for(d.schema)
        self._go("SessionSetup")
        self._send("SessionSetup", now)

    def _on(self, res, hdr, now):
        car = self.car
        d = self.d
        ph = self.step_name
        if ph in ("PreCharge", "CurrentDemand"):
            # a car that dislikes an isolation status keeps checking it after CableCheck
            # (an Audi Q4 aborted on "Invalid" after the CableCheck: sheet §9 table, issue 11)
            iso = res["DC_EVSEStatus"].get("EVSEIsolationStatus", "absent")
            if iso in car["bad_isolation"]:
                self._end("isolation %s in %s" % (iso, ph), now)
                return
        if ph == "SessionSetup":
            self.sid = hdr["SessionID"]
            self._next("ServiceDiscovery", now)
        elif ph == "ServiceDiscovery":
            self.service_id = d.charge_service_id(res)
            self._next("PaymentSelection", now)
        elif ph == "PaymentSelection":
            self._next("Authorization", now)
        elif ph == "Authorization":
            if res["EVSEProcessing"] == "Ongoing":
                self._send("Authorization", now)
                return
            self.cpd_at = now
            self._next("ChargeParameterDiscovery", now)
        elif ph == "ChargeParameterDiscovery":
            if now - self.cpd_at > car["cpd_patience_ms"]:
                self._end("ChargeParameterDiscovery too slow", now)
                return
            if res["EVSEProcessing"] == "Ongoing":
                self._send("ChargeParameterDiscovery", now)
                return
            self.schedule_id = d.schedule_id(res)
            if d.needs_schedule and self.schedule_id is None:
                self._end("ChargeParameterDiscoveryRes without an SAScheduleTuple", now)
                return
            self._next("CableCheck", now)
        elif ph == "CableCheck":
            st = res["DC_EVSEStatus"]
            if res["EVSEProcessing"] == "Ongoing":
                self._send("CableCheck", now)
                return
            iso = st.get("EVSEIsolationStatus", "absent")
            if iso in car["bad_isolation"] or st["EVSEStatusCode"] != "EVSE_Ready":
                self._end("isolation %s / %s after CableCheck" % (iso, st["EVSEStatusCode"]), now)
                return
            self.pre_start = now
            self._next("PreCharge", now)
        elif ph == "PreCharge":
            real = self.inlet_v()
            rep = val(res["EVSEPresentVoltage"])
            ok_rep = abs(rep - car["battery_v"]) <= car["precharge_tol_v"]
            ok_real = abs(real - car["battery_v"]) <= car["precharge_tol_v"] or not car["real_precharge"]
            if ok_rep and ok_real:
                self._next("PowerDeliveryStart", now)
                return
            if now - self.pre_start > car["precharge_timeout_ms"]:
                self._end("PreCharge timeout (reported %.0f V, real %.0f V)" % (rep, real), now)
                return
            self._send("PreCharge", now)
        elif ph == "PowerDeliveryStart":
            self.loop_start = now
            self.first_cd_at = now
            self._next("CurrentDemand", now)
        elif ph == "CurrentDemand":
            self._on_current_demand(res, now)
        elif ph == "PowerDeliveryStop":
            self.weld_n = 0
            self._next("WeldingDetection", now)
        elif ph == "WeldingDetection":
            self.weld_n += 1
            if val(res["EVSEPresentVoltage"]) > 40 and self.weld_n < 20:
                self._send("WeldingDetection", now)
                return
            self._next("SessionStop", now)
        elif ph == "SessionStop":
            self._end("completed", now)

    def _next(self, step, now):
        self._go(step)
        self._send(step, now)

    def _held(self, key, cond, now, ms):
        """True once `cond` has held in every CurrentDemandRes for `ms`."""
        if not cond:
            self.since.pop(key, None)
            return False
        t0 = self.since.setdefault(key, now)
        return now - t0 >= ms

    def _on_current_demand(self, res, now):
        car = self.car
        self.loops += 1
        st = res["DC_EVSEStatus"]
        rep_a = val(res["EVSEPresentCurrent"])
        for k in ("EVSEMaximumVoltageLimit", "EVSEMaximumCurrentLimit", "EVSEMaximumPowerLimit"):
            if k not in res:
                self._end("CurrentDemandRes without %s" % k, now)
                return
        if abs(val(res["EVSEPresentVoltage"]) - self.inlet_v()) > 20:
            self._end("EVSEPresentVoltage %.0f V but the inlet has %.0f V" % (
                val(res["EVSEPresentVoltage"]), self.inlet_v()), now)
            return
        if car["current_diff_a"] and self._held("diff", abs(rep_a - abs(self.current_a())) > car["current_diff_a"],
                                                now, car["current_diff_ms"]):
            self._end("FAILED_ChargingCurrentdifferential", now)
            return
        if car["zero_current_ms"] and self._held("zero", rep_a <= 0, now, car["zero_current_ms"]):
            self._end("zero current timeout", now)
            return
        self.soc = max(0.0, self.soc - car["soc_per_loop"])
        if st["EVSEStatusCode"] in ("EVSE_Shutdown", "EVSE_EmergencyShutdown"):
            self._stop_loop("EVSE %s" % st["EVSEStatusCode"], now)
        elif car["loops"] and self.loops >= car["loops"]:
            self._stop_loop("%d loops" % self.loops, now)
        elif car["loop_limit_ms"] and now - self.loop_start >= car["loop_limit_ms"]:
            self._stop_loop("loop time limit", now)
        else:
            self._send("CurrentDemand", now)
