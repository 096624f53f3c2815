"""The control-pilot core against the simulated car's pilot circuit (resistors,
diode, faults, ADC noise) through a DIN 70121 DC session's pilot moves."""
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.protocols.ccs import cp
from hil.ccs.cp_car import CpCar, DcCar, run


def test_standard_resistors_land_in_the_state_windows():
    car = CpCar()
    assert cp.classify(car.plateaus(True, 50, False)[0]) == "A"
    car.plugged = True
    for s2, want in ((None, "B"), ("C", "C"), ("D", "D")):
        car.s2 = s2
        hi, lo = car.plateaus(True, 50, False)
        assert cp.classify(hi) == want and lo == -12000


def test_dc_session_pilot_timeline():
    p = cp.ControlPilot()
    car = DcCar(seed=3, noise_mv=300)
    log = []
    t = run(p, car, 0, 1000, log=log)                  # nobody there
    car.plug_in()
    t_plug = t
    t = run(p, car, t, t + 2000, log=log)
    assert p.request() == (True, 50, False)
    car.charge_parameter_discovery_done()
    t_c = t
    t = run(p, car, t, t + 3000, log=log)
    car.power_delivery_stop()
    t_b = t
    t = run(p, car, t, t + 2000, log=log)
    p.session_stop(t)
    t_stop = t
    t = run(p, car, t, t + 3000, log=log)
    car.unplug()
    t_unplug = t
    run(p, car, t, t + 1000, log=log)
    changes = [(e[1], e[2], e[3]) for e in log if e[0] == "state"]
    assert [c[:2] for c in changes] == [("A", "B"), ("B", "C"), ("C", "B"), ("B", "A")]
    for (old, new, at), since in zip(changes, (t_plug, t_c, t_b, t_unplug)):
        assert 0 <= at - since <= cp.CP_STATE_DETECTION_TIMEOUT_MS
    assert not [e for e in log if e[0] == "fault"]
    assert t_stop + cp.CP_OSC_RETAIN_MS <= t_unplug


def test_car_faults_are_seen():
    p = cp.ControlPilot()
    car = DcCar()
    car.plug_in()
    log = []
    t = run(p, car, 0, 500, log=log)
    car.diode_short = True
    t = run(p, car, t, t + 100, log=log)
    assert ("fault", "diode") in log
    car.diode_short = False
    car.pe_short = True
    run(p, car, t, t + 500, log=log)
    assert ("fault", "pilot reads state E") in log and p.request()[0] is False


@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 60)), min_size=1, max_size=30),
       st.integers(0, 900))
@settings(max_examples=60)
def test_random_pilot_histories(moves, noise):
    """Whatever the car does and with up to 0.9 V noise: every accepted state was
    really applied for at least the debounce time, and the oscillator is on
    exactly when a car is plugged (no session stop here)."""
    p = cp.ControlPilot()
    car = CpCar(seed=1, noise_mv=noise)
    t = 0
    for state, dur10 in moves:
        car.plugged = state != "A"
        car.s2 = state if state in ("C", "D") else None
        log = []
        t = run(p, car, t, t + dur10 * 10, log=log)
        for e in log:
            if e[0] == "state":
                assert e[2] == state
    if p.state in ("B", "C", "D"):
        assert p.request() == (True, 50, False)
    elif p.state == "A":
        assert p.request() == (False, 0, False)
