"""EXI codec on the device (runs under pytest on CPython and inside MicroPython).

Known vector: DIN SessionSetupReq from EVerest libcbv2g (tests/din/session_setup.cpp).
"""
import binascii

import firmware  # noqa: F401
from firmware.v2g.exi import EXIError, codec_for

SESSION_SETUP_REQ = "809a02000000000000000011d01a121dc983cd6000"


def _hex(b):
    return binascii.hexlify(b).decode()


def test_din_session_setup_req_vector_decodes():
    msg = codec_for("din").decode(binascii.unhexlify(SESSION_SETUP_REQ))
    hdr = msg["V2G_Message"]["Header"]
    assert hdr["SessionID"] == bytes(8)
    assert msg["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] == binascii.unhexlify("84877260f358")


def test_din_session_setup_req_vector_reencodes_identically():
    din = codec_for("din")
    msg = din.decode(binascii.unhexlify(SESSION_SETUP_REQ))
    assert _hex(din.encode(msg)) == SESSION_SETUP_REQ


def test_din_current_demand_roundtrip():
    din = codec_for("din")
    msg = {"V2G_Message": {"Header": {"SessionID": b"\x01\x02\x03\x04\x05\x06\x07\x08"},
                           "Body": {"CurrentDemandRes": {
                               "ResponseCode": "OK",
                               "DC_EVSEStatus": {"EVSEIsolationStatus": "Valid", "EVSEStatusCode": "EVSE_Ready",
                                                 "NotificationMaxDelay": 0, "EVSENotification": "None"},
                               "EVSEPresentVoltage": {"Multiplier": 0, "Unit": "V", "Value": 400},
                               "EVSEPresentCurrent": {"Multiplier": -1, "Unit": "A", "Value": 1250},
                               "EVSECurrentLimitAchieved": False,
                               "EVSEVoltageLimitAchieved": False,
                               "EVSEPowerLimitAchieved": False}}}}
    data = din.encode(msg)
    assert data[0] == 0x80
    assert din.decode(data) == msg


def test_app_handshake_roundtrip():
    app = codec_for("app")
    req = {"supportedAppProtocolReq": {"AppProtocol": [
        {"ProtocolNamespace": "urn:din:70121:2012:MsgDef", "VersionNumberMajor": 2,
         "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1}]}}
    data = app.encode(req)
    assert _hex(data) == "8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040"
    assert app.decode(data) == req


def test_truncated_input_is_a_decode_error():
    din = codec_for("din")
    data = binascii.unhexlify(SESSION_SETUP_REQ)
    for n in range(len(data) - 1):
        try:
            din.decode(data[:n])
        except EXIError:
            continue
        raise AssertionError("prefix of %d bytes decoded" % n)


def test_facets_are_checked_on_encode():
    din = codec_for("din")
    bad = {"V2G_Message": {"Header": {"SessionID": bytes(9)}, "Body": {}}}
    try:
        din.encode(bad)
    except EXIError:
        return
    raise AssertionError("9-byte SessionID accepted")
