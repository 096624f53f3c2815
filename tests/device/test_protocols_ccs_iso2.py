"""ISO 15118-2 DC SECC core (CPython and MicroPython): message shapes the schema accepts,
the renamed messages, ChargeProgress, and the shared discharge logic."""
import firmware  # noqa: F401
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles
from firmware.protocols.ccs.din import dc as din
from firmware.protocols.ccs.iso2 import dc
from firmware.v2g.exi import codec_for
from tests.device import ccs_msgs as M

SID = b"\x01\x02\x03\x04\x05\x06\x07\x08"


_pv = M.pv
_st = M.ev_status
_body = M.body


def _req(name, body, sid=SID):
    return M.req(name, body, sid)


CPD = {"RequestedEnergyTransferMode": "DC_extended",
       "DC_EVChargeParameter": {"DC_EVStatus": _st(), "EVMaximumCurrentLimit": _pv(100, "A"),
                                "EVMaximumPowerLimit": _pv(20000, "W"), "EVMaximumVoltageLimit": _pv(420, "V")}}


def test_full_iso2_dc_session_encodes_every_response():
    iso2 = codec_for("iso2")
    port = P.SimPort()
    core = dc.Iso2Secc(port, profiles.get("generic"), {}, SID)
    now = 0

    def ask(name, body, sid=SID):
        r = core.request(_req(name, body, sid), now)
        while r is None:
            port.step(now + 10)
            r = core.poll(now + 10)
        iso2.encode(r)
        n, b = _body(r)
        assert n == name[:-3] + "Res" and b["ResponseCode"].startswith("OK"), (n, b)
        return b

    assert ask("SessionSetupReq", {"EVCCID": b"\x02\x00\x00\x00\x00\x01"}, bytes(8))["EVSEID"] == "ZZ00000"
    sd = ask("ServiceDiscoveryReq", {})
    assert sd["ChargeService"]["SupportedEnergyTransferMode"]["EnergyTransferMode"] == ["DC_extended"]
    ask("PaymentServiceSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                       "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}})
    assert ask("AuthorizationReq", {})["EVSEProcessing"] == "Finished"
    cpd = ask("ChargeParameterDiscoveryReq", CPD)
    assert cpd["SAScheduleList"]["SAScheduleTuple"][0]["PMaxSchedule"]["PMaxScheduleEntry"][0]["PMax"]["Unit"] == "W"
    while True:
        now += 100
        port.step(now)
        if ask("CableCheckReq", {"DC_EVStatus": _st()})["EVSEProcessing"] == "Finished":
            break
    pre = {"DC_EVStatus": _st(), "EVTargetVoltage": _pv(380, "V"), "EVTargetCurrent": _pv(1, "A")}
    for _ in range(5):
        now += 100
        port.step(now)
        ask("PreChargeReq", pre)
    ask("PowerDeliveryReq", {"ChargeProgress": "Start", "SAScheduleTupleID": 1})
    assert port.closed()
    cd = ask("CurrentDemandReq", {"DC_EVStatus": _st(), "EVTargetCurrent": _pv(30, "A"), "ChargingComplete": False,
                                  "EVTargetVoltage": _pv(380, "V")})
    assert cd["EVSEID"] == "ZZ00000" and cd["SAScheduleTupleID"] == 1 and "EVSEMaximumPowerLimit" in cd
    assert abs(din.val(cd["EVSEPresentVoltage"]) - port.inlet_v()) < 0.1
    ask("PowerDeliveryReq", {"ChargeProgress": "Stop", "SAScheduleTupleID": 1})
    assert not port.closed()
    ask("WeldingDetectionReq", {"DC_EVStatus": _st()})
    ask("SessionStopReq", {"ChargingSession": "Terminate"})
    assert core.ended and core.end_reason == "session stop"


def test_din_names_are_a_sequence_error_in_iso2():
    port = P.SimPort()
    core = dc.Iso2Secc(port, profiles.get("generic"), {}, SID)
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    core.request(_req("ServiceDiscoveryReq", {}), 1)
    r = core.request(_req("AuthorizationReq", {}), 2)
    assert _body(r)[1]["ResponseCode"] == "FAILED_SequenceError"
    codec_for("iso2").encode(r)


def test_every_iso2_failed_response_is_schema_valid():
    core = dc.Iso2Secc(P.SimPort(), profiles.get("generic"), {}, SID)
    iso2 = codec_for("iso2")
    for req_name in dc.Iso2Secc.HANDLERS:
        res_name = req_name[:-3] + "Res"
        iso2.encode({"V2G_Message": {"Header": {"SessionID": SID},
                                     "Body": {res_name: core.failed_body(res_name, "FAILED_SequenceError")}}})


def test_sae_j2847_2_v2h_negative_limits_min_soc_and_direction():
    iso2 = codec_for("iso2")
    port = P.SimPort()
    core = dc.Iso2Secc(port, profiles.get("generic"), {"j2847": "V2H"}, SID)
    now = 0

    def ask(name, body, sid=SID):
        r = core.request(_req(name, body, sid), now)
        while r is None:
            port.step(now + 10)
            r = core.poll(now + 10)
        iso2.encode(r)
        return _body(r)[1]

    ask("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8))
    sd = ask("ServiceDiscoveryReq", {})
    assert sd["ServiceList"]["Service"][0]["ServiceID"] == dc.SAE_V2H
    assert ask("ServiceDetailReq", {"ServiceID": dc.SAE_V2H})["ResponseCode"] == "OK"
    assert ask("ServiceDetailReq", {"ServiceID": 4242})["ResponseCode"] == "FAILED_ServiceIDInvalid"
    core = dc.Iso2Secc(port, profiles.get("generic"), {"j2847": "V2H"}, SID)
    ask("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8))
    ask("ServiceDiscoveryReq", {})
    ask("PaymentServiceSelectionReq", {"SelectedPaymentOption": "ExternalPayment", "SelectedServiceList": {
        "SelectedService": [{"ServiceID": 1}, {"ServiceID": dc.SAE_V2H}]}})
    assert core.j2847
    ask("AuthorizationReq", {})
    # first CPD: charge limits -> Ongoing; second: negative limits + BulkSOC -> Finished
    assert ask("ChargeParameterDiscoveryReq", CPD)["EVSEProcessing"] == "Ongoing"
    neg = {"RequestedEnergyTransferMode": "DC_extended", "DC_EVChargeParameter": {
        "DC_EVStatus": _st(), "EVMaximumCurrentLimit": _pv(-25, "A"), "EVMaximumPowerLimit": _pv(-9000, "W"),
        "EVMaximumVoltageLimit": _pv(420, "V"), "BulkSOC": 35}}
    assert ask("ChargeParameterDiscoveryReq", neg)["EVSEProcessing"] == "Finished"
    assert core.bpt_limits == (25, 9000) and core.min_soc == 35
    core.state = din.WAIT_PRECHARGE
    for _ in range(5):
        now += 100
        port.step(now)
        ask("PreChargeReq", {"DC_EVStatus": _st(), "EVTargetVoltage": _pv(380, "V"), "EVTargetCurrent": _pv(1, "A")})
    ask("PowerDeliveryReq", {"ChargeProgress": "Start", "SAScheduleTupleID": 1})
    cd = {"DC_EVStatus": _st(50), "EVTargetCurrent": _pv(-20, "A"), "EVMaximumCurrentLimit": _pv(200, "A"),
          "ChargingComplete": False, "EVTargetVoltage": _pv(380, "V")}
    for _ in range(20):
        now += 100
        port.step(now)
        r = ask("CurrentDemandReq", cd)
    assert port._lim_a <= 25                        # the negotiated discharge limit, not the 200 A in the loop
    assert din.val(r["EVSEPresentCurrent"]) < 0     # discharge reported as such
    assert r["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_Ready"
    cd["DC_EVStatus"] = _st(35)
    r = ask("CurrentDemandReq", cd)
    assert r["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_Shutdown" and core.stop_requested == "j2847-min-soc"


def test_unoffered_value_added_service_is_refused():
    core = dc.Iso2Secc(P.SimPort(), profiles.get("generic"), {}, SID)
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    core.request(_req("ServiceDiscoveryReq", {}), 1)
    r = core.request(_req("PaymentServiceSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                                         "SelectedServiceList": {"SelectedService": [
                                                             {"ServiceID": 1}, {"ServiceID": dc.SAE_V2H}]}}), 2)
    assert _body(r)[1]["ResponseCode"] == "FAILED_ServiceSelectionInvalid"


def _discovered():
    """A core after SessionSetup and ServiceDiscovery."""
    core = dc.Iso2Secc(P.SimPort(), profiles.get("generic"), {}, SID)
    core.request(_req("SessionSetupReq", {"EVCCID": b"\x01"}, bytes(8)), 0)
    core.request(_req("ServiceDiscoveryReq", {}), 1)
    return core


def test_no_charge_service_selected_gets_its_own_code():
    # [V2G2-804] (as cited by EVerest EvseV2G iso_server.cpp): a PaymentServiceSelectionReq without
    # the charge service is answered FAILED_NoChargeServiceSelected, and the session ends
    core = _discovered()
    r = core.request(_req("PaymentServiceSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                                         "SelectedServiceList": {"SelectedService": [
                                                             {"ServiceID": 2}]}}), 2)
    assert _body(r)[1]["ResponseCode"] == "FAILED_NoChargeServiceSelected"
    assert core.ended


def test_energy_transfer_mode_not_offered_gets_the_iso2_code():
    # [V2G2-476]: ISO-2 names it FAILED_WrongEnergyTransferMode (DIN: ...Type); the response must encode
    core = _discovered()
    core.request(_req("PaymentServiceSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                                     "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}), 2)
    core.request(_req("AuthorizationReq", {}), 3)
    r = core.request(_req("ChargeParameterDiscoveryReq", {"RequestedEnergyTransferMode": "AC_three_phase_core",
                                                          "AC_EVChargeParameter": {
                                                              "EAmount": M.pv(10000, "Wh"), "EVMaxVoltage": M.pv(400, "V"),
                                                              "EVMaxCurrent": M.pv(16, "A"), "EVMinCurrent": M.pv(1, "A")}}), 4)
    assert _body(r)[1]["ResponseCode"] == "FAILED_WrongEnergyTransferMode"
    assert core.ended
    codec_for("iso2").encode(r)
