"""The inverter fast loop and its protections (CPython and MicroPython)."""
import math

import firmware  # noqa: F401
from inverter.controller import coeffs as K
from inverter.controller import fastloop as FL
from inverter.controller import protection as PR


def _near(a, b, tol):
    return abs(a - b) <= tol


# ---------------------------------------------------------------- overload ladder
def _time_to_trip(ratio, limit_s=30.0, dt=0.01):
    ol = PR.Overload()
    t = 0.0
    while t < limit_s:
        t += dt
        if ol.update(ratio, dt):
            return t
    return None


def test_ladder_bands():
    assert _time_to_trip(1.05) is None
    assert _near(_time_to_trip(1.2), 10.0, 0.02)
    assert _near(_time_to_trip(1.49), 10.0, 0.02)
    assert _near(_time_to_trip(1.7), 5.0, 0.02)
    assert _time_to_trip(2.5) <= 0.1


def test_ladder_forgives_after_the_load_drops():
    ol = PR.Overload()
    for _ in range(800):           # 8 s at 130 %
        ol.update(1.3, 0.01)
    for _ in range(1000):          # 10 s at rated
        ol.update(0.9, 0.01)
    assert ol.acc == 0.0 and not ol.tripped


def test_ladder_adds_repeated_surges():
    ol = PR.Overload()
    for _ in range(600):
        ol.update(1.3, 0.01)
    for _ in range(100):
        ol.update(0.5, 0.01)
    t = 0.0
    while not ol.update(1.3, 0.01):
        t += 0.01
    assert t < 5.0


# ---------------------------------------------------------------- derating
def test_derating_curve():
    assert PR.derate(25.0) == 1.0
    assert PR.derate(70.0) == 1.0
    assert _near(PR.derate(77.5), 0.75, 1e-9)
    assert PR.derate(85.0) == PR.T_DERATE_MIN
    assert PR.derate(89.9) == PR.T_DERATE_MIN
    assert PR.derate(90.0) == 0.0


# ---------------------------------------------------------------- short-circuit policy
def test_short_circuit_retries_then_locks_out():
    sc = PR.ShortCircuitLatch(retry_s=30.0, max_attempts=3)
    sc.fault(0.0)
    assert not sc.may_restart(29.9)
    assert sc.may_restart(30.0)
    sc.fault(31.0)
    assert sc.may_restart(61.0)
    sc.fault(62.0)
    assert sc.lockout
    assert not sc.may_restart(1000.0)
    sc.clear()
    assert not sc.lockout and sc.attempts == 0


# ---------------------------------------------------------------- fast loop
def _run(ctl, n, vdc=400.0):
    """Steps with an ideal plant: the output follows the reference, no load."""
    z = [0.0] * ctl.nph
    for _ in range(n):
        ctl.step(list(ctl.vref), z, z, vdc, False)


def test_soft_start_ramps_from_a_zero_crossing():
    ctl = FL.InverterControl(f_hz=50.0, v_rms=230.0, ramp_ms=100)
    ctl.enable(True)
    assert ctl.state == FL.INV_SOFT_START and ctl.gates
    _run(ctl, 1)
    assert abs(ctl.duty[0]) < 0.01            # starts at the zero crossing, zero amplitude
    _run(ctl, 999)                            # 50 ms
    assert _near(ctl.amp, 0.5, 0.01)
    _run(ctl, 1100)
    assert ctl.state == FL.INV_RUN and ctl.amp == 1.0


def test_duty_is_normalised_by_the_measured_link():
    a = FL.InverterControl(f_hz=50.0, v_rms=230.0, ramp_ms=0)
    b = FL.InverterControl(f_hz=50.0, v_rms=230.0, ramp_ms=0)
    a.enable(True)
    b.enable(True)
    for _ in range(50):
        a.step([0.0], [0.0], [0.0], 400.0, False)
        b.step([0.0], [0.0], [0.0], 200.0, False)
        if abs(b.duty[0]) < FL.DUTY_MAX:
            assert _near(b.duty[0], 2 * a.duty[0], 1e-9)


def test_half_bridge_uses_half_the_link():
    a = FL.InverterControl(f_hz=60.0, v_rms=120.0, ramp_ms=0)
    b = FL.InverterControl(nph=2, half_bridge=True, f_hz=60.0, v_rms=120.0, ramp_ms=0)
    a.enable(True)
    b.enable(True)
    for _ in range(20):
        a.step([0.0], [0.0], [0.0], 400.0, False)
        b.step([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], 800.0, False)
        assert _near(b.duty[0], a.duty[0], 1e-9)
        assert _near(b.duty[1], -a.duty[0], 1e-6)       # L2 at 180 degrees


def test_duty_clamped():
    ctl = FL.InverterControl(f_hz=50.0, v_rms=230.0, ramp_ms=0)
    ctl.enable(True)
    for _ in range(200):
        ctl.step([-300.0], [0.0], [0.0], 60.0, False)
        assert abs(ctl.duty[0]) <= FL.DUTY_MAX


def test_current_reference_limited():
    lp = FL.PhaseLoop(K.RES[50])
    u = lp.step(1000.0, 0.0, 0.0, 0.0, 0.0, 10.0)
    assert lp.sat
    assert _near(u, K.KPI * 10.0, 1e-6)
    u = lp.step(-1000.0, 0.0, 0.0, 0.0, 0.0, 10.0)
    assert lp.sat and _near(u, -K.KPI * 10.0, 1e-6)


def test_low_link_switches_off():
    ctl = FL.InverterControl(ramp_ms=0)
    ctl.enable(True)
    ctl.step([0.0], [0.0], [0.0], 10.0, False)
    assert not ctl.gates and ctl.duty[0] == 0.0


def test_over_temperature_trips():
    ctl = FL.InverterControl(ramp_ms=0)
    ctl.enable(True)
    ctl.set_temperature(95.0)
    ctl.step([0.0], [0.0], [0.0], 400.0, False)
    assert ctl.state == FL.INV_TRIP and not ctl.gates
    ctl.enable(False)
    ctl.set_temperature(40.0)
    ctl.enable(True)
    assert ctl.state == FL.INV_SOFT_START


def test_collapsed_output_at_the_limit_latches_and_retries():
    ctl = FL.InverterControl(f_hz=50.0, v_rms=230.0, ramp_ms=0, retry_s=0.5)
    ctl.enable(True)
    # a dead short: the output stays at 0 V, the current reference runs into the limit
    n = 0
    while ctl.state != FL.INV_SC_LATCH and n < 4000:
        ctl.step([0.0], [0.0], [0.0], 400.0, True)
        n += 1
    assert ctl.state == FL.INV_SC_LATCH and not ctl.gates
    assert n <= 3 * 400                    # within three cycles at 50 Hz
    _run(ctl, 9000)                        # 0.45 s: still latched
    assert ctl.state == FL.INV_SC_LATCH
    _run(ctl, 2000)
    assert ctl.state in (FL.INV_RUN, FL.INV_SOFT_START) and ctl.gates


def test_reference_frequency():
    ctl = FL.InverterControl(f_hz=60.0, v_rms=120.0, ramp_ms=0)
    ctl.enable(True)
    _run(ctl, 20000)                       # 1 s: cycle bookkeeping follows the set frequency
    assert ctl.state == FL.INV_RUN
    assert ctl.cycles in (59, 60)            # the 60th wrap lands on the last sample, +-rounding
    assert _near(ctl.v_rms[0], 120.0, 1.0)
    ph = ctl.theta
    if ph > math.pi:
        ph -= 2 * math.pi
    assert abs(ph) < 1e-3


def test_switches_again_after_a_link_dip():
    """Found by tests/inverter/test_fuzz.py: a dip below V_BUS_MIN used to
    leave the gates off for good."""
    ctl = FL.InverterControl(ramp_ms=0)
    ctl.enable(True)
    ctl.step([0.0], [0.0], [0.0], 10.0, False)
    assert not ctl.gates
    for _ in range(5):
        ctl.step(list(ctl.vref), [0.0], [0.0], 400.0, False)
    assert ctl.gates and ctl.duty[0] != 0.0
