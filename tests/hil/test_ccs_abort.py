"""A car that leaves mid-loop gets an orderly stop, not a vehicle-data fault (slice i11-abort).

On the CCS rig (real firmware composition, scripted EVCC, averaged plant, simulated time), for
DIN and ISO-2: the car ends the V2G session on its own in the middle of the CurrentDemand loop
(charging-current differential, zero-current timeout, TCP reset, opens its contactors under
load, goes silent after its PowerDelivery stop). The box ramps down on its own measurements,
opens, checks welding, discharges the link and reaches ReadyToUnplug (or renews the session)
with every output off and no fault. A car that goes silent while the box still draws current,
or vehicle data that go bad while the session depends on them, remain faults."""
import pytest

from firmware.app import ccs as app_ccs
from firmware.can.gen import box
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.protocols.ccs import sap
from firmware.safety import faults as fl
from hil.rigs.ccs import CcsRig, run_session

PROTOS = {"din": {}, "iso2": {"namespaces": (sap.PROTOCOLS["iso2"][0],)}}
NO_RENEW = {"profile": "generic", "renew_on_abort": False}
# car-side ends (status.py on main: VehicleStop; with i11-measure's CCS mapping VehicleAbort / CommTimeout)
CAR_SIDE = {box.StopReason_VehicleStop, box.StopReason_CommTimeout}
for _n in ("StopReason_VehicleAbort", "StopReason_VehicleLoopLimit", "StopReason_Renewal"):
    if hasattr(box, _n):
        CAR_SIDE.add(getattr(box, _n))


def _ended_in_order(r, kind=P.STOP_VEHICLE_ABORT):
    """ReadyToUnplug, no fault (none latched, F_VEH_DATA in particular), every output off, the
    link and inlet below 60 V, the stop reported as a car-side end."""
    sup = r.power.safety.sup
    assert r.state == T.READY_TO_UNPLUG, (T.STATE_NAMES[r.state], r.power.log)
    assert not sup.faults & (1 << fl.F_VEH_DATA)
    assert sup.faults == 0, hex(sup.faults)
    assert not r.power.safety.session.failed
    assert r.out_k() == (0, 0)
    for pin in ("K_PRECHARGE", "PS_ENABLE", "AC_OUT_RELAY"):
        assert r.hal.gpio[pin].level == 0, pin
    assert r.plant.v_link < 60 and r.plant.v_inlet < 60
    assert r.pilot_out() == (False, 0, False)
    assert r.power.port.stop_kind == kind
    assert r.power.status.stop_reason in CAR_SIDE, r.power.status.stop_reason
    states = r.state_names()
    assert states[states.index("Supplying"):] == ["Supplying", "Stopping", "ContactorsOpen", "WeldingCheck",
                                                  "DcLinkDischarge", "ReadyToUnplug"]


@pytest.mark.parametrize("proto", PROTOS)
def test_current_differential_abort_is_an_orderly_stop(proto):
    car = dict(PROTOS[proto], loops=0, loop_limit_ms=20000, current_diff_a=3.0, current_diff_ms=1000)
    r = run_session(car, NO_RENEW, max_ms=80000)
    assert r.ev.protocol == proto and r.ev.result == "FAILED_ChargingCurrentdifferential", r.ev.log
    assert r.records()[-1]["ended"].startswith("connection closed")
    assert r.ac_energy_wh > 0.5
    _ended_in_order(r)
    assert any("car left" in t for _, t in r.power.log), r.power.log
    assert any("no renewal" in t for _, t in r.power.log), r.power.log


@pytest.mark.parametrize("proto", PROTOS)
def test_zero_current_timeout_is_an_orderly_stop(proto, monkeypatch):
    from firmware.protocols.ccs import profiles
    prof = dict(profiles.DEFAULT, reported_a=0.0, min_reported_a=0.0)
    monkeypatch.setattr(profiles, "recognise", lambda *a, **k: dict(prof))
    car = dict(PROTOS[proto], loops=0, loop_limit_ms=8000, zero_current_ms=3000)
    r = run_session(car, dict(NO_RENEW, profile="auto"), max_ms=60000)
    assert r.ev.protocol == proto and r.ev.result == "zero current timeout", r.ev.log
    _ended_in_order(r)


def _supplying(car, cfg, ms=2000, memory=False):
    """The car in the CurrentDemand loop, current flowing. memory=True: on the MemoryTransport (the
    TCP reset is injected at the transport), else on the box's own link (CcsLink, the EV's network)."""
    r = CcsRig(car=dict(car, loops=0, loop_limit_ms=60000), cfg=cfg, link=not memory)
    r.plug(); r.run(300); r.start()
    r.run_until(lambda r: r.state == T.SUPPLYING, 20000)
    r.run(ms)
    assert r.state == T.SUPPLYING and r.plant.i > 2
    return r


@pytest.mark.parametrize("proto", PROTOS)
def test_tcp_reset_mid_loop_is_an_orderly_stop(proto):
    r = _supplying(PROTOS[proto], NO_RENEW, memory=True)
    r.transport.ev_close(r.ev.cid, "reset")
    r.ev._end("reset by the car", r.now)
    r.run_until(lambda r: r.state == T.READY_TO_UNPLUG and not r.power.active, 20000)
    assert r.records()[-1]["ended"] == "connection closed (reset)"
    _ended_in_order(r)


@pytest.mark.parametrize("proto", PROTOS)
def test_tcp_rst_on_the_box_own_stack_mid_loop_is_an_orderly_stop(proto):
    """A real RST segment from the car's TCP (hil/ccs/ev_net.py) at the box's own stack."""
    from firmware.protocols.ccs.net import tcp
    r = _supplying(PROTOS[proto], NO_RENEW)
    c = r.net.host.conns[r.ev.cid]
    c._seg(tcp.RST | tcp.ACK, c.snd_nxt)       # RFC 9293: RST with the next sequence number
    c._closed("reset")
    r.ev._end("reset by the car", r.now)
    r.run_until(lambda r: r.state == T.READY_TO_UNPLUG and not r.power.active, 20000)
    assert r.records()[-1]["ended"].startswith("connection closed"), r.records()[-1]["ended"]
    assert "reset" in r.records()[-1]["ended"]
    _ended_in_order(r)


@pytest.mark.parametrize("proto", PROTOS)
def test_car_opening_its_contactors_under_load_is_a_vehicle_side_stop(proto):
    r = _supplying(PROTOS[proto], NO_RENEW)
    orig = r._car

    def car_opened(now):
        orig(now)
        r.car_closed = False        # the car opened its contactors under load and keeps them open
    r._car = car_opened
    r.run_until(lambda r: r.ev.done and r.state == T.READY_TO_UNPLUG and not r.power.active, 30000)
    assert any("inlet lost under load" in t for _, t in r.power.log), r.power.log
    assert r.records()[-1]["stop_requested"] == "inlet-lost"
    _ended_in_order(r)
    assert any("no renewal" in t for _, t in r.power.log)   # the box asked to stop: not renewed


def _freeze_in(r, phase):
    """The car stops answering once it is in `phase` (its contactors keep their own logic)."""
    orig = r._car

    def car(now):
        orig(now)
        ev = r.ev
        if ev is not None and ev.phase == phase and not getattr(ev, "frozen", False):
            ev.frozen = True
            ev.step = lambda now: None
    r._car = car


@pytest.mark.parametrize("proto", PROTOS)
def test_car_silent_after_its_power_delivery_stop_ends_in_order(proto):
    r = CcsRig(car=dict(PROTOS[proto], loops=12), cfg=NO_RENEW)
    _freeze_in(r, "WeldingDetection")
    r.plug(); r.run(300); r.start()
    r.run_until(lambda r: r.state == T.READY_TO_UNPLUG and not r.power.active, 30000)
    rec = r.records()[-1]
    assert rec["ended"].startswith("sequence timeout") and rec["current_demand_loops"] >= 12
    assert r.now < 20000        # well before the SECC's 60 s V2G_SECC_Sequence_Timeout
    _ended_in_order(r, kind=P.STOP_NORMAL)   # the car ended its loop itself, then said nothing


def test_car_abort_after_energy_is_renewed_by_default_within_the_bounds():
    car = dict(loops=0, loop_limit_ms=20000, current_diff_a=3.0, current_diff_ms=1000)
    r = CcsRig(car=car, cfg={"profile": "generic", "renew_max": 2, "renew_min_interval_ms": 1000})
    r.plug(); r.run(300); r.start()
    r.run(40000)
    results = [ev.result for ev in r.evs]
    assert results[:3] == ["FAILED_ChargingCurrentdifferential"] * 3, results
    assert r.power.renewals == 2
    assert any("renewal limit (2) reached" in t for _, t in r.power.log), r.power.log
    assert r.state == T.READY_TO_UNPLUG and r.power.safety.sup.faults == 0
    assert r.out_k() == (0, 0) and r.plant.v_link < 60
    assert [k for _s, _w, k in r.power.end_kinds] == [P.STOP_VEHICLE_ABORT] * 3


def test_car_silent_while_current_flows_is_still_a_vehicle_link_fault():
    """The SoC and limits the session depends on go stale with the DC path closed: a fault."""
    r = _supplying({}, NO_RENEW)
    _freeze_in(r, "CurrentDemand")
    r.run(15000)
    sup = r.power.safety.sup
    assert sup.faults & (1 << fl.F_VEHICLE_LINK)
    assert not sup.faults & (1 << fl.F_VEH_DATA)
    assert r.state == T.FAULT
    assert r.power.status.stop_reason == box.StopReason_CommTimeout
    assert r.out_k() == (0, 0) and r.plant.v_link < 60
    for pin in ("K_PRECHARGE", "PS_ENABLE", "AC_OUT_RELAY"):
        assert r.hal.gpio[pin].level == 0, pin


def test_unknown_soc_while_current_flows_is_still_a_vehicle_data_fault():
    """The car's SoC becomes unknown mid-loop while the V2G session runs: F_VEH_DATA, a stop."""
    r = _supplying({}, NO_RENEW)
    r.power._core().ev["soc"] = None
    r.run(3000)
    sup = r.power.safety.sup
    assert sup.faults & (1 << fl.F_VEH_DATA)
    assert r.state not in (T.SUPPLYING, T.READY_TO_UNPLUG)
    assert r.out_k() == (0, 0)


def test_end_kind_table():
    assert app_ccs.end_kind("session stop") == P.STOP_NORMAL
    assert app_ccs.end_kind("connection closed (reset)", True) == P.STOP_NORMAL
    for why in ("connection closed (peer)", "connection closed (reset)", "sequence timeout",
                "no supportedAppProtocolReq", "inlet lost"):
        assert app_ccs.end_kind(why) == P.STOP_VEHICLE_ABORT, why
    for why in ("sequence error: CurrentDemandReq in state 3", "EXI decode error: x", "malformed request",
                "isolation fault in CableCheck", ""):
        assert app_ccs.end_kind(why) == P.STOP_PROTOCOL, why


@pytest.mark.parametrize("bad", ["yes", 1, None, "false"])
def test_renew_on_abort_must_be_a_boolean(bad):
    r = CcsRig(cfg={"profile": "generic", "renew_on_abort": bad})
    with pytest.raises(ValueError, match="renew_on_abort"):
        r.boot()
