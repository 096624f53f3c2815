"""EXI codec on the device: ISO 15118-2 and ISO 15118-20 DC (bidirectional, BPT) round trips.

Runs under pytest on CPython and inside MicroPython (tools/mpy/run.mjs --tests).
"""
import firmware  # noqa: F401
from firmware.v2g.exi import EXIError, codec_for


def rn(value, exponent=0):
    return {"Exponent": exponent, "Value": value}


BPT_CHARGE_LOOP_REQ = {"DC_ChargeLoopReq": {
    "Header": {"SessionID": b"\x11\x22\x33\x44\x55\x66\x77\x88", "TimeStamp": 1700000000},
    "MeterInfoRequested": False,
    "EVPresentVoltage": rn(3987, -1),
    "BPT_Dynamic_DC_CLReqControlMode": {
        "DepartureTime": 7200,
        "EVTargetEnergyRequest": rn(40, 3), "EVMaximumEnergyRequest": rn(60, 3),
        "EVMinimumEnergyRequest": rn(-20, 3),
        "EVMaximumChargePower": rn(50, 3), "EVMinimumChargePower": rn(0),
        "EVMaximumChargeCurrent": rn(125), "EVMaximumVoltage": rn(450), "EVMinimumVoltage": rn(250),
        "EVMaximumDischargePower": rn(-11, 3), "EVMinimumDischargePower": rn(0),
        "EVMaximumDischargeCurrent": rn(-30)}}}


def test_iso20_dc_bpt_charge_loop_roundtrip():
    dc = codec_for("iso20dc")
    data = dc.encode(BPT_CHARGE_LOOP_REQ)
    assert data[0] == 0x80
    assert dc.decode(data) == BPT_CHARGE_LOOP_REQ


def test_iso20_common_session_setup_roundtrip():
    cm = codec_for("iso20")
    msg = {"SessionSetupReq": {"Header": {"SessionID": bytes(8), "TimeStamp": 0}, "EVCCID": "WMIV1234567890ABCDEF"}}
    assert cm.decode(cm.encode(msg)) == msg


def test_iso20_value_ranges_are_checked():
    dc = codec_for("iso20dc")
    bad = {"DC_ChargeLoopReq": dict(BPT_CHARGE_LOOP_REQ["DC_ChargeLoopReq"], EVPresentVoltage=rn(40000))}
    try:
        dc.encode(bad)
    except EXIError:
        return
    raise AssertionError("short out of range accepted")


def test_iso2_current_demand_roundtrip():
    iso2 = codec_for("iso2")
    pv = lambda m, u, v: {"Multiplier": m, "Unit": u, "Value": v}  # noqa: E731
    msg = {"V2G_Message": {"Header": {"SessionID": b"\x01\x02"}, "Body": {"CurrentDemandReq": {
        "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 42},
        "EVTargetCurrent": pv(0, "A", 100), "ChargingComplete": False,
        "EVTargetVoltage": pv(0, "V", 400)}}}}
    assert iso2.decode(iso2.encode(msg)) == msg


def test_unknown_root_and_fields_are_rejected():
    iso2 = codec_for("iso2")
    for bad in ({"Nope": {}}, {"V2G_Message": {"Header": {"SessionID": b"\x01"}, "Body": {}, "Extra": 1}}, {}):
        try:
            iso2.encode(bad)
        except EXIError:
            continue
        raise AssertionError(bad)


def test_empty_list_is_an_absent_repeated_element():
    app = codec_for("app")
    res = {"supportedAppProtocolReq": {"AppProtocol": [
        {"ProtocolNamespace": "urn:din:70121:2012:MsgDef", "VersionNumberMajor": 2,
         "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1}]}}
    assert app.decode(app.encode(res)) == res
    try:
        app.encode({"supportedAppProtocolReq": {"AppProtocol": []}})
    except EXIError:
        pass
    else:
        raise AssertionError("empty list accepted for a required element")
    too_many = {"supportedAppProtocolReq": {"AppProtocol": res["supportedAppProtocolReq"]["AppProtocol"] * 21}}
    try:
        app.encode(too_many)
    except EXIError:
        return
    raise AssertionError("21 AppProtocol entries accepted (maxOccurs 20)")
