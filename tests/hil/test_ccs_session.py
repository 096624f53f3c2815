"""DIN discharge sessions on the CCS rig (hil/rigs/ccs.py): the real firmware
composition (SECC -> ChargingPortVerbs -> ChargingPort -> session -> SafetyApp,
power-stage link) with the scripted EVCC and the averaged plant, simulated time.
Every output is the supervisor's: the SECC only asks through the port."""
import pytest

from firmware.charging import table as T
from firmware.protocols.ccs import profiles
from hil.ccs.profile_runs import car_for
from hil.rigs.ccs import CcsRig, run_session

FULL_ORDER = ["Idle", "Plugged", "Handshake", "IsolationCheck", "PreCharge", "ContactorsClosed",
              "PowerStageStart", "Supplying", "Stopping", "ContactorsOpen", "WeldingCheck",
              "DcLinkDischarge", "ReadyToUnplug"]
LOOP_CAP_MS = 60000     # the 300 s / 600 s loop limits are capped to keep the suite fast


def _car(name):
    car = car_for(name)
    car["loop_limit_ms"] = min(car["loop_limit_ms"], LOOP_CAP_MS)
    return car


@pytest.mark.parametrize("name", profiles.names())
def test_every_profile_discharges_through_the_supervisor(name):
    car = _car(name)
    r = run_session(car, {"profile": name if name != "tesla-din" else "auto"}, max_ms=car["loop_limit_ms"] + 60000)
    rec = r.records()[-1]
    assert r.ev.result == "completed", r.ev.log
    assert rec["profile"] == name and rec["ended"] == "session stop", rec
    assert r.state_names() == FULL_ORDER
    # the car ended the loop on its own limit, after about that long in CurrentDemand
    assert r.ev.log[0][1] == "loop ends: loop time limit"
    sup_t = [t for t, s in r.states if s in (T.SUPPLYING, T.STOPPING)]
    assert sup_t[1] - sup_t[0] >= car["loop_limit_ms"] - 1000
    # energy really came out of the car's battery into the AC load
    assert r.ac_energy_wh > 0.9 * 3000 * (car["loop_limit_ms"] - 2000) / 3.6e6
    assert r.battery.soc < 60
    # the box let go: contactors open, link and inlet below 60 V, pilot back to X1, no fault
    assert r.power.safety.sup.faults == 0
    assert r.out_k() == (0, 0)
    assert r.plant.v_inlet < 60 and r.plant.v_link < 60
    assert r.pilot_out() == (False, 0, False)


def test_tesla_is_recognised_and_gets_din_not_its_own_namespace():
    r = run_session(_car("tesla-din"), {"profile": "auto"}, max_ms=60000)
    rec = r.records()[-1]
    assert rec["protocol"] == "din" and rec["offered"][0].startswith("urn:tesla")
    # the car closed only on the real inlet voltage: the precharge source really precharged it
    pre = [n for n, c in rec["requests"] if n == "PreChargeReq"]
    assert pre


def test_precharge_is_physical_and_closes_within_20_v():
    seen = []
    r = CcsRig(car={"loops": 10})
    r.plug(); r.run(300); r.start()
    # the moment the box contactors close, the two sides are matched
    def watch(rig):
        if rig.hal.gpio["K_DC_POS"].level == 1 and not seen:
            seen.append((rig.plant.v_inlet, rig.plant.v_link, rig.battery.ocv()))
    while r.now < 30000 and not (r.ev is not None and r.ev.done):
        r.step()
        watch(r)
    assert r.ev.result == "completed", r.ev.log
    v_in, v_link, ocv = seen[0]
    assert abs(v_in - v_link) <= 20 and abs(v_link - ocv) <= 20


def test_soc_floor_stops_the_loop_with_evse_shutdown():
    r = run_session({"loops": 0, "loop_limit_ms": 120000}, {"profile": "generic"},
                    max_ms=200000, soc=22.0, capacity_kwh=0.01)
    rec = r.records()[-1]
    assert r.ev.result == "completed", r.ev.log
    assert "EVSE_Shutdown" in r.ev.log[0][1], r.ev.log
    assert r.now < 100000
    assert r.battery.soc > 19.0
    assert r.state == T.READY_TO_UNPLUG
    assert rec["energy_wh"] > 0


def test_isolation_fault_in_cable_check_stops_safely_without_closing():
    r = CcsRig(car={"loops": 10})
    r.plant.iso_bad = True
    closed = []
    r.plug(); r.run(300); r.start()
    while r.now < 40000 and not (r.ev is not None and r.ev.done and r.state in (T.FAULT, T.READY_TO_UNPLUG)
                                 and not r.power.active):
        r.step()
        if r.hal.gpio["K_DC_POS"].level == 1:
            closed.append(r.now)
    assert not closed
    assert r.state == T.FAULT
    assert "FAILED" in r.ev.result or "isolation" in r.ev.result, r.ev.result
    assert r.ac_energy_wh == 0
    assert r.plant.v_inlet < 60 and r.plant.v_link < 60


def test_user_stop_ends_the_loop_in_order():
    r = CcsRig(car={"loops": 0, "loop_limit_ms": 120000})
    r.plug(); r.run(300); r.start()
    r.run_until(lambda r: r.state == T.SUPPLYING, 20000)
    r.run(3000)
    r.stop()
    r.run_until(lambda r: r.ev.done and r.state == T.READY_TO_UNPLUG and not r.power.active, 30000)
    assert r.ev.result == "completed", r.ev.log
    assert "EVSE_Shutdown" in r.ev.log[0][1]
    assert r.power.safety.sup.faults == 0


# ---------------------------------------------------------------- session renewal (issue 11 item 5)
def _renewing(cfg, car=None, ms=90000):
    r = CcsRig(car=car or {"loops": 0, "loop_limit_ms": 20000}, cfg=dict({"profile": "vw-meb"}, **cfg))
    r.plug(); r.run(300); r.start()
    r.run(ms)
    return r


@pytest.mark.parametrize("mode", ["ef", "x1"])
def test_car_timer_end_is_renewed_up_to_the_count(mode):
    r = _renewing({"renew_max": 2, "renew_pilot": mode})
    assert [e.result for e in r.evs] == ["completed"] * 3
    assert r.power.renewals == 2
    assert r.state_names().count("Supplying") == 3
    assert r.state == T.READY_TO_UNPLUG and r.power.safety.sup.faults == 0
    texts = [t for _, t in r.power.log]
    assert "renewal limit (2) reached: the session stays ended" in texts
    # the gap the firmware measured is the gap the load saw
    assert len(r.power.gaps_ms) == 2
    for fw, plant in zip(r.power.gaps_ms, r.plant_gaps()):
        assert abs(fw - plant) <= 100, (r.power.gaps_ms, r.plant_gaps())
    # E/F: the car sees state F for T_step_EF (4 s) before 5 % comes back
    if mode == "ef":
        assert min(r.power.gaps_ms) >= 4000
    else:
        assert max(r.power.gaps_ms) < 4000


def test_renewal_rate_is_limited():
    r = _renewing({"renew_max": 5, "renew_min_interval_ms": 40000, "renew_pilot": "x1"}, ms=100000)
    starts = [t for t, x in r.power.log if x.startswith("renewal ") and "new session" in x]
    assert len(starts) >= 2
    assert all(b - a >= 40000 for a, b in zip(starts, starts[1:]))


def test_no_renewal_after_a_user_stop_or_a_box_stop():
    r = CcsRig(car={"loops": 0, "loop_limit_ms": 120000})
    r.plug(); r.run(300); r.start()
    r.run_until(lambda r: r.state == T.SUPPLYING, 20000)
    r.run(2000)
    r.stop()
    r.run(30000)
    assert r.power.renewals == 0 and len(r.evs) == 1
    assert any("no renewal, the user stopped" in t for _, t in r.power.log)
    # SoC floor: the box asked the car to stop
    r2 = run_session({"loops": 0, "loop_limit_ms": 120000}, {"profile": "generic"}, max_ms=200000,
                     soc=22.0, capacity_kwh=0.01)
    r2.run(20000)
    assert r2.power.renewals == 0 and len(r2.evs) == 1


def test_unplug_resets_the_count():
    r = _renewing({"renew_max": 1, "renew_pilot": "x1"}, ms=60000)
    assert r.power.renewals == 1
    r.plug(False)
    r.run(1000)
    assert r.state == T.IDLE and r.power.renewals == 0
