"""The scripted EVCC against a SECC that misbehaves (bad SAP answer, wrong response type,
undecodable EXI, a FAILED code, silence): a named result, the connection closed, never an
exception, in DIN and in ISO 15118-2."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.protocols.ccs import sap, sdp, v2gtp
from firmware.protocols.ccs.transport import MemoryTransport
from firmware.v2g.exi import codec_for
from hil.ccs.evcc import make_evcc

NS = {"din": sap.PROTOCOLS["din"][0], "iso2": sap.PROTOCOLS["iso2"][0]}


def _connected(namespaces):
    """An EVCC that has sent its supportedAppProtocolReq; -> (transport, evcc, cid)."""
    t = MemoryTransport()
    t.open(0)
    ev = make_evcc(t, {"namespaces": namespaces})
    ev.step(0)
    srv = sdp.SdpServer(*t.local_endpoint())
    for e in t.poll(1):
        if e[0] == "sdp":
            t.send_sdp(e[1], srv.handle(e[2]))
    ev.step(2)
    cid = [e for e in t.poll(3) if e[0] == "connected"][0][1]
    return t, ev, cid


def _answer(t, ev, cid, schema, msg, now=5):
    t.send(cid, v2gtp.frame(v2gtp.EXI, codec_for(schema).encode(msg)))
    t.poll(now - 1)
    ev.step(now)


def _sap_ok(t, ev, cid, schema_id=1):
    _answer(t, ev, cid, "app", {"supportedAppProtocolRes": {"ResponseCode": sap.OK, "SchemaID": schema_id}})


@pytest.mark.parametrize("res,why", [
    ({"ResponseCode": sap.FAILED}, "SAP failed"),
    ({"ResponseCode": sap.OK, "SchemaID": 7}, "SAP: SchemaID 7 was not offered"),
])
def test_bad_sap_answer(res, why):
    t, ev, cid = _connected((NS["iso2"], NS["din"]))
    _answer(t, ev, cid, "app", {"supportedAppProtocolRes": res})
    assert ev.done and ev.result == why and t.ev_closed(cid) is not None


def test_a_car_whose_proprietary_namespace_is_chosen_falls_silent():
    # a SECC that picked the Tesla namespace would lose the car: the EVCC ends the session
    # like the real car does (pyPLC #31)
    t, ev, cid = _connected((sap.TESLA_NAMESPACE, NS["din"]))
    _sap_ok(t, ev, cid, 1)
    assert ev.done and ev.result == "SECC chose %s" % sap.TESLA_NAMESPACE and ev.protocol is None


@pytest.mark.parametrize("proto", ["din", "iso2"])
def test_wrong_response_type_failed_code_and_garbage(proto):
    sid = bytes(8)
    t, ev, cid = _connected((NS[proto],))
    _sap_ok(t, ev, cid)
    assert ev.protocol == proto and ev.phase == "SessionSetup"
    _answer(t, ev, cid, proto, {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {
        "SessionStopRes": {"ResponseCode": "OK"}}}})
    assert ev.done and ev.result == "unexpected SessionStopRes while waiting for SessionSetupRes"

    t, ev, cid = _connected((NS[proto],))
    _sap_ok(t, ev, cid)
    evse_id = "ZZ00000" if proto == "iso2" else b"\x00"
    _answer(t, ev, cid, proto, {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {
        "SessionSetupRes": {"ResponseCode": "FAILED", "EVSEID": evse_id}}}})
    assert ev.done and ev.result == "SessionSetupRes FAILED"

    t, ev, cid = _connected((NS[proto],))
    _sap_ok(t, ev, cid)
    t.send(cid, v2gtp.frame(v2gtp.EXI, b"\xff\xff\xff"))
    t.poll(4)
    ev.step(5)
    assert ev.done and ev.result.startswith("EXI error")


@pytest.mark.parametrize("proto", ["din", "iso2"])
def test_silent_secc_is_a_named_timeout(proto):
    t, ev, cid = _connected((NS[proto],))
    _sap_ok(t, ev, cid)
    ev.step(1000)
    assert not ev.done
    ev.step(2006)
    assert ev.done and ev.result == "timeout waiting for SessionSetupRes"


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=64), st.sampled_from(["din", "iso2"]))
def test_any_bytes_from_the_secc_end_the_session_cleanly(data, proto):
    t, ev, cid = _connected((NS[proto],))
    _sap_ok(t, ev, cid)
    t.send(cid, data)
    t.poll(4)
    for now in (5, 10, 3000):
        ev.step(now)
    assert ev.done and ev.result


def test_iso2_charge_parameters_without_a_schedule_end_the_session(monkeypatch):
    from firmware.protocols.ccs import secc as S
    from firmware.protocols.ccs.iso2 import dc as iso2_dc
    from hil.ccs import din_rig

    class NoSchedule(iso2_dc.Iso2Secc):
        HANDLERS = dict(iso2_dc.Iso2Secc.HANDLERS)

        def cpd(self, b, now):
            r = iso2_dc.Iso2Secc.charge_parameter_discovery(self, b, now)
            del r["SAScheduleList"]
            return r
    NoSchedule.HANDLERS["ChargeParameterDiscoveryReq"] = NoSchedule.cpd
    monkeypatch.setitem(S.CORES, "iso2", NoSchedule)
    rec, ev, port, secc = din_rig.run({"namespaces": (NS["iso2"],)})
    assert ev.protocol == "iso2" and ev.result == "ChargeParameterDiscoveryRes without an SAScheduleTuple", ev.log
    assert not port.closed()
