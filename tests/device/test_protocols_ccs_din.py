"""DIN SPEC 70121 DC SECC core, SAP selection, profiles (CPython and MicroPython)."""
import firmware  # noqa: F401
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles, sap, sdp, v2gtp
from firmware.protocols.ccs.din import dc
from firmware.protocols.ccs.secc import Secc
from firmware.protocols.ccs.transport import MemoryTransport
from firmware.v2g.exi import codec_for
from tests.device import ccs_msgs as M

SID = b"\x11\x22\x33\x44\x55\x66\x77\x88"
DIN_NS = "urn:din:70121:2012:MsgDef"
TESLA_NS = "urn:tesla:din:2018:MsgDef"


_pv = M.pv
_st = M.ev_status
_body = M.body


def _req(name, body, sid=SID):
    return M.req(name, body, sid)


CPD = {"EVRequestedEnergyTransferType": "DC_extended",
       "DC_EVChargeParameter": {"DC_EVStatus": _st(), "EVMaximumCurrentLimit": _pv(100, "A"),
                                "EVMaximumPowerLimit": _pv(20000, "W"), "EVMaximumVoltageLimit": _pv(420, "V")}}
CD = {"DC_EVStatus": _st(), "EVTargetCurrent": _pv(30, "A"), "EVMaximumCurrentLimit": _pv(100, "A"),
      "EVMaximumPowerLimit": _pv(20000, "W"), "ChargingComplete": False, "EVTargetVoltage": _pv(380, "V")}


def _drive_to_loop(core, port, now=0):
    """SessionSetup .. PowerDelivery(start) against a SimPort, stepping its physics."""
    steps = [("SessionSetupReq", {"EVCCID": b"\x02\x00\x00\x00\x00\x01"}),
             ("ServiceDiscoveryReq", {}),
             ("ServicePaymentSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                             "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}),
             ("ContractAuthenticationReq", {}),
             ("ChargeParameterDiscoveryReq", CPD)]
    for name, body in steps:
        code = _body(core.request(_req(name, body, SID if name != "SessionSetupReq" else bytes(8)), now))[1]
        assert code["ResponseCode"].startswith("OK"), (name, code)
    while True:
        now += 100
        port.step(now)
        r = _body(core.request(_req("CableCheckReq", {"DC_EVStatus": _st()}), now))[1]
        assert r["ResponseCode"] == "OK"
        if r["EVSEProcessing"] == "Finished":
            break
        assert now < 10000
    pre = {"DC_EVStatus": _st(), "EVTargetVoltage": _pv(380, "V"), "EVTargetCurrent": _pv(1, "A")}
    while True:
        now += 100
        port.step(now)
        r = _body(core.request(_req("PreChargeReq", pre), now))[1]
        if abs(dc.val(r["EVSEPresentVoltage"]) - 380) < 5:
            break
        assert now < 20000
    r = core.request(_req("PowerDeliveryReq", {"ReadyToChargeState": True}), now)
    while r is None:
        now += 10
        port.step(now)
        r = core.poll(now)
    assert _body(r)[1]["ResponseCode"] == "OK"
    return now


def _core(profile=None, **port_kw):
    port = P.SimPort(**port_kw)
    return dc.DinSecc(port, profiles.get(profile), {}, SID), port


def test_physical_values_fit_a_short():
    assert dc.pv(400.0, "V") == {"Multiplier": -1, "Unit": "V", "Value": 4000}
    assert dc.pv(11000.0, "W") == {"Multiplier": 0, "Unit": "W", "Value": 11000}
    assert dc.pv(150000.0, "W") == {"Multiplier": 1, "Unit": "W", "Value": 15000}
    assert dc.val({"Multiplier": -1, "Value": 4005}) == 400.5
    assert dc.val({"Multiplier": 2, "Value": 5}) == 500


def test_sap_prefers_din_over_tesla_namespace_whatever_the_priority():
    req = {"AppProtocol": [
        {"ProtocolNamespace": TESLA_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1},
        {"ProtocolNamespace": DIN_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 2, "Priority": 2}]}
    res, proto, offered = sap.select(req)
    assert proto == "din" and res["supportedAppProtocolRes"] == {"ResponseCode": sap.OK, "SchemaID": 2}
    assert offered == [TESLA_NS, DIN_NS]
    assert profiles.recognise(offered)["name"] == "tesla-din"


def test_sap_priority_minor_deviation_and_no_match():
    iso = {"ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef", "VersionNumberMajor": 2, "VersionNumberMinor": 0,
           "SchemaID": 7, "Priority": 1}
    din = {"ProtocolNamespace": DIN_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 1, "SchemaID": 3, "Priority": 2}
    assert sap.select({"AppProtocol": [iso, din]}, ("din", "iso2"))[1] == "din"
    assert sap.select({"AppProtocol": [iso, din]}, ("din", "iso2"))[0]["supportedAppProtocolRes"]["ResponseCode"] == sap.OK_MINOR
    assert sap.select({"AppProtocol": [iso, din]}, ("din", "iso2"), ev_priority=True)[1] == "iso2"
    assert sap.select({"AppProtocol": [iso, din]}, ("iso2", "din"))[1] == "iso2"
    major3 = dict(din)
    major3["VersionNumberMajor"] = 3
    res, proto, _o = sap.select({"AppProtocol": [major3]}, ("din",))
    assert proto is None and res["supportedAppProtocolRes"] == {"ResponseCode": sap.FAILED}
    assert sap.select({"AppProtocol": []})[1] is None


def test_out_of_order_request_gets_sequence_error_and_ends_the_session():
    core, port = _core()
    r = core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    assert _body(r)[1]["ResponseCode"] == "OK_NewSessionEstablished"
    r = core.request(_req("CableCheckReq", {"DC_EVStatus": _st()}), 10)
    name, body = _body(r)
    assert name == "CableCheckRes" and body["ResponseCode"] == "FAILED_SequenceError"
    assert core.ended and "sequence" in core.end_reason
    # the FAILED answer is still a schema-valid message
    codec_for("din").encode(r)
    assert core.request(_req("ServiceDiscoveryReq", {}), 20) is None


def test_wrong_session_id_gets_unknown_session():
    core, port = _core()
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    r = core.request(_req("ServiceDiscoveryReq", {}, b"\x99" * 8), 10)
    assert _body(r)[1]["ResponseCode"] == "FAILED_UnknownSession"
    codec_for("din").encode(r)


def test_payment_and_energy_type_checks():
    core, port = _core()
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    core.request(_req("ServiceDiscoveryReq", {}), 1)
    r = core.request(_req("ServicePaymentSelectionReq", {"SelectedPaymentOption": "Contract",
                                                         "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}), 2)
    assert _body(r)[1]["ResponseCode"] == "FAILED_PaymentSelectionInvalid"
    core, port = _core()
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    core.request(_req("ServiceDiscoveryReq", {}), 1)
    core.request(_req("ServicePaymentSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                                     "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}), 2)
    core.request(_req("ContractAuthenticationReq", {}), 3)
    bad = dict(CPD)
    bad["EVRequestedEnergyTransferType"] = "AC_three_phase_core"
    r = core.request(_req("ChargeParameterDiscoveryReq", bad), 4)
    assert _body(r)[1]["ResponseCode"] == "FAILED_WrongEnergyTransferType"
    codec_for("din").encode(r)


def test_dc_core_is_accepted_and_limits_are_always_present():
    core, port = _core("nacs-dc-core")
    now = _drive_to_loop(core, port)
    assert port.closed()
    r = core.request(_req("CurrentDemandReq", CD), now + 100)
    name, b = _body(r)
    for k in ("EVSEMaximumVoltageLimit", "EVSEMaximumCurrentLimit", "EVSEMaximumPowerLimit"):
        assert k in b
    assert abs(dc.val(b["EVSEPresentVoltage"]) - port.inlet_v()) < 0.1
    assert dc.val(b["EVSEPresentCurrent"]) == 1.0          # fixed strategy, 1 A
    assert b["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Valid"
    assert b["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_Ready"
    codec_for("din").encode(r)


def test_power_delivery_refused_while_the_inlet_is_not_precharged():
    core, port = _core(slew_v_per_s=10.0)      # a precharge source too weak to get there in time
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    for name, body in (("ServiceDiscoveryReq", {}),
                       ("ServicePaymentSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                                       "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}),
                       ("ContractAuthenticationReq", {}), ("ChargeParameterDiscoveryReq", CPD)):
        core.request(_req(name, body), 1)
    core.state = dc.WAIT_PRECHARGE             # (the cable check is covered elsewhere)
    r = core.request(_req("PreChargeReq", {"DC_EVStatus": _st(), "EVTargetVoltage": _pv(380, "V"),
                                           "EVTargetCurrent": _pv(1, "A")}), 100)
    assert dc.val(_body(r)[1]["EVSEPresentVoltage"]) < 1       # the measured value, not the target
    now = 100
    r = core.request(_req("PowerDeliveryReq", {"ReadyToChargeState": True}), now)
    while r is None:
        now += 50
        port.step(now)
        r = core.poll(now)
    assert _body(r)[1]["ResponseCode"] == "FAILED_PowerDeliveryNotApplied"
    assert not port.closed()


def test_soc_floor_answers_evse_shutdown_and_stops_the_current():
    core, port = _core()
    now = _drive_to_loop(core, port)
    low = dict(CD)
    low["DC_EVStatus"] = _st(soc=20)
    r = core.request(_req("CurrentDemandReq", low), now + 100)
    st = _body(r)[1]["DC_EVSEStatus"]
    assert st["EVSEStatusCode"] == "EVSE_Shutdown" and core.stop_requested == "soc-floor"
    assert port._lim_a == 0


def test_reported_current_strategies_never_report_zero():
    core, port = _core()
    core.profile = dict(profiles.DEFAULT, reported_current="request")
    core.ev["target_a"] = 0.0
    assert core.reported_current() == 1.0
    core.ev["target_a"] = 12.5
    assert core.reported_current() == 12.5
    core.profile = dict(profiles.DEFAULT, reported_current="measured", min_reported_a=2.0)
    assert core.reported_current() == 2.0


def test_cable_check_uses_the_iec_test_voltage_and_waits_for_a_safe_output():
    core, port = _core()
    core.ev["max_v"] = 420.0
    assert core.test_voltage() == 470.0
    core.ev["max_v"] = 800.0
    assert core.test_voltage() == 500.0        # capped by the box maximum
    core, port = _core(isolation_result=P.ISO_FAULT)
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    core.state = dc.WAIT_CABLE_CHECK
    now = 0
    r = None
    while not core.ended:
        now += 100
        port.step(now)
        r = core.request(_req("CableCheckReq", {"DC_EVStatus": _st()}), now)
        assert now < 10000
    b = _body(r)[1]
    assert b["ResponseCode"] == "FAILED" and b["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Fault"


def test_sequence_timeout_ends_the_session():
    core, port = _core()
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    assert core.next_timer(0) == dc.SEQUENCE_TIMEOUT_MS
    core.handle_timer(59999)
    assert not core.ended
    core.handle_timer(60000)
    assert core.ended and core.end_reason == "sequence timeout"


def test_secc_over_memory_transport_sdp_sap_and_bad_v2gtp():
    t = MemoryTransport()
    s = Secc(t, P.SimPort(), {})
    s.open(0)
    t.ev_sdp((bytes(16), 5000), sdp.encode_request())
    s.step(1)
    (dst, dg), = t.ev_sdp_replies()
    assert dst == (bytes(16), 5000) and sdp.decode_response(dg)[:2] == t.local_endpoint()
    cid = t.ev_connect()
    req = {"supportedAppProtocolReq": {"AppProtocol": [
        {"ProtocolNamespace": TESLA_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1},
        {"ProtocolNamespace": DIN_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 2, "Priority": 2}]}}
    f = v2gtp.frame(v2gtp.EXI, codec_for("app").encode(req))
    t.ev_send(cid, f[:5])       # split over two segments
    s.step(2)
    t.ev_send(cid, f[5:])
    s.step(3)
    d = v2gtp.Deframer()
    d.feed(t.ev_recv(cid))
    ptype, payload = d.next()
    assert codec_for("app").decode(payload)["supportedAppProtocolRes"]["SchemaID"] == 2
    assert s.conn.core.profile["name"] == "tesla-din"
    t.ev_send(cid, b"\x02\xfd\x80\x01\x00\x00\x00\x01\x80")     # bad V2GTP header
    s.step(4)
    s.step(5)
    assert t.ev_closed(cid)
    assert s.records[-1]["ended"].startswith("V2GTP")
    assert s.records[-1]["protocol"] == "din"


def test_every_failed_response_is_schema_valid():
    core, port = _core()
    din = codec_for("din")
    for req_name in dc.STATES[dc.WAIT_SESSION_SETUP] + dc.STATES[dc.WAIT_SERVICE_DISCOVERY] + (
            "ServicePaymentSelectionReq", "ContractAuthenticationReq", "ChargeParameterDiscoveryReq", "CableCheckReq",
            "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq", "WeldingDetectionReq", "SessionStopReq"):
        res_name = req_name[:-3] + "Res"
        body = dc._failed_body(res_name, "FAILED_SequenceError", core)
        din.encode({"V2G_Message": {"Header": {"SessionID": SID}, "Body": {res_name: body}}})


def test_a_request_with_a_stray_trailing_byte_is_answered_and_logged():
    t = MemoryTransport()
    s = Secc(t, P.SimPort(), {})
    s.open(0)
    cid = t.ev_connect()
    req = {"supportedAppProtocolReq": {"AppProtocol": [
        {"ProtocolNamespace": DIN_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1}]}}
    t.ev_send(cid, v2gtp.frame(v2gtp.EXI, codec_for("app").encode(req)))
    s.step(1)
    t.ev_recv(cid)
    ss = codec_for("din").encode(_req("SessionSetupReq", {"EVCCID": b"\x01\x02"}, bytes(8))) + b"\x00"
    t.ev_send(cid, v2gtp.frame(v2gtp.EXI, ss))
    s.step(2)
    d = v2gtp.Deframer()
    d.feed(t.ev_recv(cid))
    res = codec_for("din").decode(d.next()[1])
    assert _body(res)[1]["ResponseCode"] == "OK_NewSessionEstablished"
    assert "trailing" in s.conn.lenient[0]
