"""Control pilot core (IEC 61851-1 states, 5 % PWM, timings) and proximity codings."""
import firmware  # noqa: F401
from firmware.protocols.ccs import cp

HI = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0, "F": -12000}


def feed(p, st, t0, t1, low=-12000, step=10):
    t = t0
    while t < t1:
        on, _duty, f = p.request()
        if f:
            p.sample(-12000, -12000, t)
        else:
            p.sample(HI[st], low if on else None, t)
        t += step
    return t


def test_classify_windows():
    assert cp.classify(12000) == "A" and cp.classify(8950) == "B" and cp.classify(6100) == "C"
    assert cp.classify(2930) == "D" and cp.classify(200) == "E" and cp.classify(-11900) == "F"
    assert cp.classify(10500) == cp.INVALID and cp.classify(7500) == cp.INVALID


def test_plug_in_starts_5_percent_and_detection_is_debounced():
    p = cp.ControlPilot()
    assert p.request() == (False, 0, False)
    feed(p, "A", 0, 100)
    feed(p, "B", 100, 100 + cp.DEBOUNCE_MS - 10)
    assert p.state == "A"                               # not yet: debounce
    feed(p, "B", 100 + cp.DEBOUNCE_MS - 10, 400)
    ev = p.events()
    assert ev[0][:3] == ("state", "A", "B") and ev[0][3] - 100 <= cp.CP_STATE_DETECTION_TIMEOUT_MS
    assert p.request() == (True, 50, False)            # 5 % from the start


def test_b_c_b_moves_of_a_dc_session_within_1_5_s():
    p = cp.ControlPilot()
    t = feed(p, "B", 0, 500)
    p.events()
    t = feed(p, "C", t, t + 1000)
    ch = [e for e in p.events() if e[0] == "state"]
    assert ch[0][1:3] == ("B", "C") and ch[0][3] - 500 <= cp.CP_STATE_DETECTION_TIMEOUT_MS
    assert p.request() == (True, 50, False)            # duty never changes while plugged
    t2 = feed(p, "B", t, t + 1000)
    ch = [e for e in p.events() if e[0] == "state"]
    assert ch[0][1:3] == ("C", "B") and ch[0][3] - t <= cp.CP_STATE_DETECTION_TIMEOUT_MS
    assert t2 > t


def test_glitches_shorter_than_debounce_are_ignored():
    p = cp.ControlPilot()
    t = feed(p, "B", 0, 500)
    p.events()
    t = feed(p, "C", t, t + cp.DEBOUNCE_MS - 50)
    t = feed(p, "B", t, t + 500)
    t = feed(p, "A", t, t + 30)
    feed(p, "B", t, t + 300)
    assert p.events() == [] and p.state == "B"
    p.sample(10500, -12000, t + 400)                   # between windows: counted, nothing changes
    assert p.invalid_samples == 1 and p.state == "B"


def test_oscillator_retained_1_5_s_after_session_stop_then_off():
    p = cp.ControlPilot()
    t = feed(p, "B", 0, 500)
    p.session_stop(t)
    t2 = feed(p, "B", t, t + cp.CP_OSC_RETAIN_MS - 10)
    assert p.request()[0] is True
    feed(p, "B", t2, t2 + 20)
    assert p.request() == (False, 0, False)            # X1 after the retain time
    t3 = feed(p, "A", t2 + 20, t2 + 400)
    feed(p, "B", t3, t3 + 400)                         # next plug-in: 5 % again
    assert p.request() == (True, 50, False)


def test_unplug_switches_off_at_once():
    p = cp.ControlPilot()
    t = feed(p, "C", 0, 500)
    feed(p, "A", t, t + 300)
    assert p.state == "A" and p.request() == (False, 0, False)


def test_ef_step_drives_f_then_returns_to_5_percent():
    p = cp.ControlPilot()
    t = feed(p, "B", 0, 500)
    p.ef_step(t)
    assert p.request() == (False, 0, True)
    t2 = feed(p, "C", t, t + cp.T_STEP_EF_MS - 10)     # car moves meanwhile: not readable under F
    assert p.request() == (False, 0, True) and p.state == "B"
    t3 = feed(p, "B", t2, t2 + 500)
    assert p.request() == (True, 50, False) and p.state == "B"
    assert not [e for e in p.events() if e[0] == "fault"]
    assert t3 > t2


def test_fault_holds_f_until_cleared():
    p = cp.ControlPilot()
    t = feed(p, "B", 0, 500)
    p.fault(t)
    t = feed(p, "B", t, t + 10000)
    assert p.request() == (False, 0, True)
    p.clear_fault(t)
    feed(p, "B", t, t + 300)
    assert p.request() == (True, 50, False)


def test_e_and_shorted_diode_are_faults():
    p = cp.ControlPilot()
    t = feed(p, "B", 0, 500)
    feed(p, "B", t, t + 50, low=-2000)                 # diode shorted: low plateau far above -11 V
    assert ("fault", "diode") in p.events()
    t = feed(p, "E", t + 50, t + 500)
    ev = p.events()
    assert ("fault", "pilot reads state E") in ev and p.request() == (False, 0, False)


def test_proximity_codings():
    assert cp.decode_pp(1500, cp.CODING_CCS2) == ("cable", 13)
    assert cp.decode_pp(680, cp.CODING_CCS2) == ("cable", 20)
    assert cp.decode_pp(220, cp.CODING_CCS2) == ("cable", 32)
    assert cp.decode_pp(100, cp.CODING_CCS2) == ("cable", 63)
    assert cp.decode_pp(50, cp.CODING_CCS2) == ("fault", 0)
    assert cp.decode_pp(5000, cp.CODING_CCS2) == ("none", 0)
    assert cp.decode_pp(1000, cp.CODING_CCS2) == ("fault", 0)       # between codings
    assert cp.decode_pp(150, cp.CODING_CCS1) == ("latched", 0)
    assert cp.decode_pp(480, cp.CODING_CCS1) == ("pressed", 0)
    assert cp.decode_pp(100000, cp.CODING_CCS1) == ("none", 0)
    assert cp.decode_pp(20, cp.CODING_CCS1) == ("fault", 0)
    assert cp.decode_pp(None, cp.CODING_CCS1) == ("fault", 0)
    try:
        cp.decode_pp(150, "chademo")
        assert False
    except ValueError:
        pass


def test_port_lines_mapping():
    from firmware.charging import port as cport
    p = cp.ControlPilot()
    assert p.port_lines() == (0, 0)
    feed(p, "B", 0, 400)
    assert p.port_lines() == (cport.L_CP_PWM, 50)
    p.ef_step(400)
    assert p.port_lines() == (cport.L_CP_F, 0)
