"""ISO 15118-20 AC schema set (a second car on the box's AC outlet may speak it): an
AC_ChargeParameterDiscoveryRes round-trips on the device (CPython and MicroPython)."""
import firmware  # noqa: F401
from firmware.v2g.exi import EXIError, codec_for


def _rn(v, e=0):
    return {"Exponent": e, "Value": v}


def test_iso20_ac_charge_parameter_discovery_roundtrip():
    ac = codec_for("iso20ac")
    msg = {"AC_ChargeParameterDiscoveryRes": {
        "Header": {"SessionID": b"\x01\x02\x03\x04\x05\x06\x07\x08", "TimeStamp": 1700000000},
        "ResponseCode": "OK",
        "AC_CPDResEnergyTransferMode": {
            "EVSEMaximumChargePower": _rn(11, 3), "EVSEMinimumChargePower": _rn(1380),
            "EVSENominalFrequency": _rn(50)}}}
    data = ac.encode(msg)
    assert data[0] == 0x80
    assert ac.decode(data) == msg


def test_iso20_ac_rejects_a_dc_message():
    try:
        codec_for("iso20ac").encode({"DC_CableCheckReq": {}})
    except EXIError:
        return
    raise AssertionError("DC message encoded with the AC grammar")
