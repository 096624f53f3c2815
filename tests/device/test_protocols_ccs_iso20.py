"""ISO 15118-20 DC / DC_BPT SECC core (CPython and MicroPython): every response encodes in
its schema set, the service/parameter-set negotiation, BPT discharge limits and sign."""
import firmware  # noqa: F401
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles
from firmware.protocols.ccs.iso20 import dc
from firmware.v2g.exi import codec_for

SID = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def _rn(v, e=0):
    return {"Exponent": e, "Value": v}


def _req(name, body, sid=SID):
    d = {"Header": {"SessionID": sid, "TimeStamp": 1}}
    d.update(body)
    return {name: d}


def _run(control="dynamic", bpt=True):
    port = P.SimPort()
    core = dc.Iso20Secc(port, profiles.get("generic"), {"iso20_control": control}, SID)
    state = {"now": 0}

    def ask(name, body, sid=SID):
        now = state["now"]
        r = core.request(_req(name, body, sid), now)
        while r is None:
            now += 10
            port.step(now)
            r = core.poll(now)
        state["now"] = now
        for root in r:
            codec_for(dc.schema_of(root)).encode(r)
            assert root == name[:-3] + "Res"
            assert r[root]["ResponseCode"].startswith("OK"), r
            return r[root]

    def tick(ms):
        state["now"] += ms
        port.step(state["now"])

    return core, port, ask, tick


def test_rational_numbers():
    assert dc.rn(400.0) == {"Exponent": -1, "Value": 4000}
    assert dc.rn(11000.0) == {"Exponent": 0, "Value": 11000}
    assert dc.rval({"Exponent": 3, "Value": 11}) == 11000
    assert dc.rval({"Exponent": -2, "Value": 5}) == 0.05


def _session(control, bpt):
    core, port, ask, tick = _run(control, bpt)
    ask("SessionSetupReq", {"EVCCID": "WMIV1234567890ABCDEX"}, bytes(8))
    assert ask("AuthorizationSetupReq", {})["AuthorizationServices"] == ["EIM"]
    ask("AuthorizationReq", {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}})
    services = ask("ServiceDiscoveryReq", {})["EnergyTransferServiceList"]["Service"]
    assert [s["ServiceID"] for s in services] == [6, 2]
    sid = 6 if bpt else 2
    det = ask("ServiceDetailReq", {"ServiceID": sid})
    params = dict((p["Name"], p["intValue"]) for p in det["ServiceParameterList"]["ParameterSet"][0]["Parameter"])
    assert params["ControlMode"] == (2 if control == "dynamic" else 1)
    assert ("BPTChannel" in params) == bpt
    ask("ServiceSelectionReq", {"SelectedEnergyTransferService": {"ServiceID": sid, "ParameterSetID": 1}})
    mode = {"EVMaximumChargePower": _rn(50000), "EVMinimumChargePower": _rn(0), "EVMaximumChargeCurrent": _rn(125),
            "EVMinimumChargeCurrent": _rn(0), "EVMaximumVoltage": _rn(420), "EVMinimumVoltage": _rn(200)}
    if bpt:
        mode.update({"EVMaximumDischargePower": _rn(7000), "EVMinimumDischargePower": _rn(0),
                     "EVMaximumDischargeCurrent": _rn(18), "EVMinimumDischargeCurrent": _rn(0)})
        cpd = ask("DC_ChargeParameterDiscoveryReq", {"BPT_DC_CPDReqEnergyTransferMode": mode})
        assert "EVSEMaximumDischargePower" in cpd["BPT_DC_CPDResEnergyTransferMode"]
    else:
        ask("DC_ChargeParameterDiscoveryReq", {"DC_CPDReqEnergyTransferMode": mode})
    if control == "dynamic":
        se = ask("ScheduleExchangeReq", {"MaximumSupportingPoints": 1024, "Dynamic_SEReqControlMode": {
            "DepartureTime": 3600, "EVTargetEnergyRequest": _rn(10, 3), "EVMaximumEnergyRequest": _rn(20, 3),
            "EVMinimumEnergyRequest": _rn(0)}})
        assert "Dynamic_SEResControlMode" in se
    else:
        se = ask("ScheduleExchangeReq", {"MaximumSupportingPoints": 1024, "Scheduled_SEReqControlMode": {}})
        assert se["Scheduled_SEResControlMode"]["ScheduleTuple"][0]["ChargingSchedule"]["PriceLevelSchedule"]
    while True:
        tick(100)
        if ask("DC_CableCheckReq", {})["EVSEProcessing"] == "Finished":
            break
    for _ in range(4):
        tick(100)
        ask("DC_PreChargeReq", {"EVProcessing": "Ongoing", "EVPresentVoltage": _rn(380), "EVTargetVoltage": _rn(380)})
    ask("PowerDeliveryReq", {"EVProcessing": "Finished", "ChargeProgress": "Start"})
    assert port.closed()
    ask("PowerDeliveryReq", {"EVProcessing": "Finished", "ChargeProgress": "Start"})   # repeated: same answer
    if control == "dynamic" and bpt:
        lm = {"BPT_Dynamic_DC_CLReqControlMode": {
            "EVTargetEnergyRequest": _rn(10, 3), "EVMaximumEnergyRequest": _rn(20, 3), "EVMinimumEnergyRequest": _rn(0),
            "EVMaximumChargePower": _rn(50000), "EVMinimumChargePower": _rn(0), "EVMaximumChargeCurrent": _rn(125),
            "EVMaximumVoltage": _rn(420), "EVMaximumDischargePower": _rn(7000), "EVMinimumDischargePower": _rn(0),
            "EVMaximumDischargeCurrent": _rn(18)}}
    elif control == "dynamic":
        lm = {"Dynamic_DC_CLReqControlMode": {
            "EVTargetEnergyRequest": _rn(10, 3), "EVMaximumEnergyRequest": _rn(20, 3), "EVMinimumEnergyRequest": _rn(0),
            "EVMaximumChargePower": _rn(50000), "EVMinimumChargePower": _rn(0), "EVMaximumChargeCurrent": _rn(125),
            "EVMaximumVoltage": _rn(420)}}
    else:
        lm = {"Scheduled_DC_CLReqControlMode": {"EVTargetCurrent": _rn(20), "EVTargetVoltage": _rn(380)}}
    body = {"EVPresentVoltage": _rn(380), "MeterInfoRequested": False}
    body.update(lm)
    for _ in range(20):
        tick(100)
        r = ask("DC_ChargeLoopReq", body)
    cur = dc.rval(r["EVSEPresentCurrent"])
    if bpt:
        assert port._lim_a <= 18 and cur < 0           # the EV's discharge limit; discharge sign
    else:
        assert cur == 1.0                                 # DIN-style reported-current strategy
    assert "EVSEStatus" not in r
    core.stop("user-stop")
    tick(100)
    r = ask("DC_ChargeLoopReq", body)
    assert r["EVSEStatus"]["EVSENotification"] == "Terminate"
    ask("PowerDeliveryReq", {"EVProcessing": "Finished", "ChargeProgress": "Stop"})
    assert not port.closed()
    ask("DC_WeldingDetectionReq", {"EVProcessing": "Ongoing"})
    ask("SessionStopReq", {"ChargingSession": "Terminate"})
    assert core.ended


def test_dc_bpt_dynamic_session():
    _session("dynamic", True)


def test_dc_bpt_scheduled_session():
    _session("scheduled", True)


def test_dc_dynamic_session():
    _session("dynamic", False)


def test_every_iso20_failed_response_is_schema_valid_and_sequence_errors():
    core, port, ask, tick = _run()
    for req_name in dc.Iso20Secc.HANDLERS:
        res_name = req_name[:-3] + "Res"
        body = core.failed_body(res_name, "FAILED_SequenceError")
        msg = core._msg(res_name, body, 0)
        codec_for(dc.schema_of(res_name)).encode(msg)
    r = core.request(_req("DC_CableCheckReq", {}, bytes(8)), 0)
    assert r["DC_CableCheckRes"]["ResponseCode"] == "FAILED_SequenceError" and core.ended
