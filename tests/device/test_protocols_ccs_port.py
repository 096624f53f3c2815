"""The SECC's port verbs onto issue 9's ChargingPort (CPython and MicroPython): the DIN core's
requests land in the port's request fields, its answers follow the port's status."""
import firmware  # noqa: F401
from firmware.charging import port as cport
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles
from firmware.protocols.ccs.din import dc
from tests.device import ccs_msgs as M


_pv = M.pv
_st = M.ev_status


def _req(name, body):
    return M.req(name, body, b"\x01" * 8)


def test_din_core_on_the_charging_port():
    cp = cport.ChargingPort()
    port = P.ChargingPortVerbs(cp)
    core = dc.DinSecc(port, profiles.get("generic"), {}, b"\x01" * 8)
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}), 0)
    core.state = dc.WAIT_CHARGE_PARAMETER
    core.request(_req("ChargeParameterDiscoveryReq", {"EVRequestedEnergyTransferType": "DC_extended",
                                                      "DC_EVChargeParameter": {
                                                          "DC_EVStatus": _st(), "EVMaximumCurrentLimit": _pv(100, "A"),
                                                          "EVMaximumVoltageLimit": _pv(420, "V")}}), 1)
    r = core.request(_req("CableCheckReq", {"DC_EVStatus": _st()}), 2)
    assert cp.cable_check_v == 470.0                      # IEC test voltage requested through the port
    assert r["V2G_Message"]["Body"]["CableCheckRes"]["EVSEProcessing"] == "Ongoing"
    assert [e for e in cp.events()]                        # the handshake-done edge for the session
    cp.iso = cport.ISO_VALID                               # the supervisor's S_ISO_OK, via update()
    cp.v_present = 470.0
    core.request(_req("CableCheckReq", {"DC_EVStatus": _st()}), 3)
    assert cp.cable_check_v == 0                           # test ends
    cp.iso = cport.ISO_UNKNOWN                             # the port forgets once out of IsolationCheck
    cp.v_present = 30.0
    r = core.request(_req("CableCheckReq", {"DC_EVStatus": _st()}), 4)
    b = r["V2G_Message"]["Body"]["CableCheckRes"]
    assert b["EVSEProcessing"] == "Finished" and b["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Valid"
    r = core.request(_req("PreChargeReq", {"DC_EVStatus": _st(), "EVTargetVoltage": _pv(380, "V"),
                                           "EVTargetCurrent": _pv(1, "A")}), 5)
    assert cp.precharge_v == 380.0
    assert dc.val(r["V2G_Message"]["Body"]["PreChargeRes"]["EVSEPresentVoltage"]) == 30.0   # measured
    assert r["V2G_Message"]["Body"]["PreChargeRes"]["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Valid"
    cp.v_present = 379.0
    assert core.request(_req("PowerDeliveryReq", {"ReadyToChargeState": True}), 6) is None   # waits for the close
    assert cp.close
    cp.closed = True
    r = core.poll(20)
    assert r["V2G_Message"]["Body"]["PowerDeliveryRes"]["ResponseCode"] == "OK"
    core.request(_req("CurrentDemandReq", {"DC_EVStatus": _st(), "EVTargetCurrent": _pv(30, "A"),
                                           "EVMaximumPowerLimit": _pv(7600, "W"),
                                           "ChargingComplete": False, "EVTargetVoltage": _pv(380, "V")}), 30)
    assert cp.veh_max_i == 7600 / 379.0 and cp.veh_max_p == 7600
    cp.tripped = True
    r = core.request(_req("CurrentDemandReq", {"DC_EVStatus": _st(), "EVTargetCurrent": _pv(30, "A"),
                                               "ChargingComplete": False, "EVTargetVoltage": _pv(380, "V")}), 40)
    assert r["V2G_Message"]["Body"]["CurrentDemandRes"]["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_EmergencyShutdown"
    core.request(_req("PowerDeliveryReq", {"ReadyToChargeState": False}), 50)
    assert not cp.close and cp.precharge_v == 0
    core.state = dc.WAIT_WELDING_OR_STOP
    core.request(_req("SessionStopReq", {}), 60)
    assert cp.stop_kind == cport.STOP_NORMAL
