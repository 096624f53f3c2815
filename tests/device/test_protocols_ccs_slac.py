"""SLAC EVSE core (ISO 15118-3), sans-IO, on simulated time: CPython and MicroPython."""
import firmware  # noqa: F401
from firmware.protocols.ccs.slac import evse as se
from firmware.protocols.ccs.slac import mme

EVSE = b"\x02\xe5\xe0\x00\x00\x01"
EV = b"\x02\xee\x00\x00\x00\x01"
MODEM = b"\x00\xb0\x52\xe5\x00\x01"
RUN = b"\x11\x22\x33\x44\x55\x66\x77\x88"


class Rng:
    """Deterministic 'random' bytes, different on every call."""

    def __init__(self):
        self.n = 0

    def __call__(self, k):
        self.n += 1
        return bytes(((self.n * 37 + i * 11) & 0xFF for i in range(k)))


def types(frames):
    return [f[15] | (f[16] << 8) for f in frames]


def ready(now=0, **kw):
    """A core that has set its key in the modem and waits for CM_SLAC_PARM.REQ."""
    c = se.SlacEvse(EVSE, Rng(), **kw)
    c.start(now)
    out = c.to_send(now)
    assert types(out) == [mme.CM_SET_KEY | mme.REQ]
    assert out[0][0:6] == mme.MODEM_LOCAL
    c.receive(mme.set_key_cnf(EVSE, MODEM), now)
    assert c.state == se.WAIT_PARM
    return c


def run_to_atten(c, now, sounds=10, profile=None):
    c.receive(mme.slac_parm_req(mme.BROADCAST, EV, RUN), now)
    cnf = c.to_send(now)
    assert types(cnf) == [mme.CM_SLAC_PARM | mme.CNF]
    m = mme.decode(cnf[0])
    assert m["msound_target"] == mme.BROADCAST and m["num_sounds"] == 10 and m["time_out"] == 6
    assert m["resp_type"] == 1 and m["forwarding_sta"] == EV and m["run_id"] == RUN
    for _ in range(3):
        c.receive(mme.start_atten_char_ind(mme.BROADCAST, EV, RUN, EV), now)
    for i in range(sounds):
        now += 20
        c.receive(mme.mnbc_sound_ind(mme.BROADCAST, EV, RUN, 9 - i), now)
        if profile is not None:
            c.receive(mme.atten_profile_ind(EVSE, MODEM, EV, profile), now)
    return now


def test_full_match_with_synthesised_attenuation():
    c = ready()
    now = run_to_atten(c, 0)
    assert c.to_send(now) == []            # waits PROFILE_GRACE for a modem profile
    now = c.next_timer()
    c.handle_timer(now)
    out = c.to_send(now)
    assert types(out) == [mme.CM_ATTEN_CHAR | mme.IND]
    ind = mme.decode(out[0])
    assert ind["num_sounds"] == 10 and ind["source_address"] == EV
    assert len(ind["aag"]) == 58 and min(ind["aag"]) > 0 and ind["aag"][-3:] == b"\x0f\x13\x19"
    c.receive(mme.atten_char_rsp(EVSE, EV, RUN), now)
    c.receive(mme.slac_match_req(EVSE, EV, RUN), now + 50)
    out = c.to_send(now + 50)
    assert types(out) == [mme.CM_SLAC_MATCH | mme.CNF]
    cnf = mme.decode(out[0])
    assert cnf["nmk"] == c.nmk and cnf["nid"] == mme.nid_from_nmk(c.nmk) and cnf["run_id"] == RUN
    ev = c.events()
    assert ev == [("matched", EV, c.nid, c.nmk)]
    assert c.state == se.MATCHED
    c.link_up(now + 100)
    assert c.state == se.LINKED and c.next_timer() is None


def test_modem_profile_is_averaged_and_sent_without_waiting():
    c = ready()
    prof = bytes(range(10, 68))
    now = run_to_atten(c, 0, profile=prof)
    out = c.to_send(now)
    assert types(out) == [mme.CM_ATTEN_CHAR | mme.IND]
    assert mme.decode(out[0])["aag"] == prof


def test_all_zero_profile_is_replaced():
    c = ready()
    now = run_to_atten(c, 0, profile=bytes(58))
    aag = mme.decode(c.to_send(now)[0])["aag"]
    assert min(aag) > 0


def test_nid_from_nmk_matches_the_homeplugav_default_pair():
    # open-plc-utils pev.ini defaults: NMK of password "HomePlugAV" and its NID
    nmk = bytes.fromhex("50D3E4933F855B7040784DF815AA8DB7")
    assert mme.nid_from_nmk(nmk) == bytes.fromhex("B0F2E695666B03")


def test_fresh_nmk_per_session():
    c = ready()
    k1 = c.nmk
    c.stop(10)
    c.start(20)
    assert c.nmk != k1 and c.state == se.SET_KEY and c.sessions == 2


def test_set_key_retried_then_fails():
    c = se.SlacEvse(EVSE, Rng())
    c.start(0)
    c.to_send(0)
    now = 0
    for _ in range(se.SET_KEY_RETRIES):
        now = c.next_timer()
        assert now - (now // 1000) * 1000 == 0
        c.handle_timer(now)
        assert types(c.to_send(now)) == [mme.CM_SET_KEY | mme.REQ]
    c.handle_timer(c.next_timer())
    assert c.events() == [("failed", "own modem does not confirm CM_SET_KEY")] and c.state == se.IDLE


def test_atten_char_resent_on_tt_match_response_then_restart():
    c = ready()
    now = run_to_atten(c, 0, profile=bytes([20] * 58))
    assert types(c.to_send(now)) == [mme.CM_ATTEN_CHAR | mme.IND]
    for _ in range(se.MATCH_RETRIES):
        assert c.next_timer() == now + se.TT_MATCH_RESPONSE
        now = c.next_timer()
        c.handle_timer(now)
        assert types(c.to_send(now)) == [mme.CM_ATTEN_CHAR | mme.IND]
    now = c.next_timer()
    c.handle_timer(now)
    ev = c.events()
    assert ev[0] == ("restart", "no CM_ATTEN_CHAR.RSP") and ev[1] == ("ef_step", se.T_STEP_EF)
    assert c.state == se.SET_KEY and c.restarts == 1
    assert types(c.to_send(now)) == [mme.CM_SET_KEY | mme.REQ]   # fresh NMK into the modem


def test_start_atten_timeout_tt_match_sequence():
    c = ready()
    c.receive(mme.slac_parm_req(mme.BROADCAST, EV, RUN), 100)
    c.to_send(100)
    assert c.next_timer() == 100 + se.TT_MATCH_SEQUENCE
    c.handle_timer(100 + se.TT_MATCH_SEQUENCE)
    assert c.events()[0][0] == "restart"


def test_sounding_window_tt_evse_match_mnbc_with_missing_sounds():
    c = ready()
    now = run_to_atten(c, 0, sounds=4)
    assert c.next_timer() == se.TT_EVSE_MATCH_MNBC   # window opened at START_ATTEN_CHAR (t=0)
    c.handle_timer(se.TT_EVSE_MATCH_MNBC)
    ind = mme.decode(c.to_send(now)[0])
    assert ind["num_sounds"] == 4


def test_slac_init_timeout_is_final():
    c = ready(slac_init_ms=10000)
    assert c.next_timer() == 10000
    c.handle_timer(10000)
    assert c.events() == [("failed", "TT_EVSE_SLAC_init expired in WAIT_PARM")] and c.state == se.IDLE
    try:
        se.SlacEvse(EVSE, Rng(), slac_init_ms=5000)
        assert False, "TT_EVSE_SLAC_init below 10 s accepted"
    except ValueError:
        pass


def test_car_resends_parm_req_mid_sequence():
    c = ready()
    run_to_atten(c, 0, sounds=3)
    run2 = b"\x99" * 8
    c.receive(mme.slac_parm_req(mme.BROADCAST, EV, run2), 500)
    out = c.to_send(500)
    assert types(out)[-1] == mme.CM_SLAC_PARM | mme.CNF and mme.decode(out[-1])["run_id"] == run2
    assert c.state == se.WAIT_START_ATTEN and c.restarts == 1 and c.sounds == 0


def test_match_cnf_resent_for_a_repeated_match_req_and_join_timeout():
    c = ready()
    now = run_to_atten(c, 0, profile=bytes([20] * 58))
    c.to_send(now)
    c.receive(mme.atten_char_rsp(EVSE, EV, RUN), now)
    c.receive(mme.slac_match_req(EVSE, EV, RUN), now)
    first = c.to_send(now)
    c.receive(mme.slac_match_req(EVSE, EV, RUN), now + 300)
    assert c.to_send(now + 300) == first
    assert c.next_timer() == now + se.TT_MATCH_JOIN
    c.handle_timer(now + se.TT_MATCH_JOIN)
    ev = c.events()
    assert ev[0][0] == "matched" and ev[1] == ("restart", "car did not join the AVLN within TT_match_join")


def test_match_req_for_another_evse_is_ignored():
    c = ready()
    now = run_to_atten(c, 0, profile=bytes([20] * 58))
    c.to_send(now)
    c.receive(mme.atten_char_rsp(EVSE, EV, RUN), now)
    c.receive(mme.slac_match_req(b"\x02\x00\x00\x00\x00\x09", EV, RUN), now)
    assert c.to_send(now) == [] and c.errors["foreign"] == 1
    assert c.next_timer() is not None   # still waits, bounded by TT_EVSE_match_session


def test_vendor_and_malformed_frames_are_counted_not_fatal():
    c = ready()
    vendor = bytearray(mme.set_key_cnf(EVSE, MODEM))
    vendor[14] = 0
    vendor[15] = 0x00
    vendor[16] = 0xA0        # MMTYPE 0xA000, Qualcomm vendor range
    c.receive(bytes(vendor), 1)
    short = mme.slac_parm_req(mme.BROADCAST, EV, RUN)[:20]
    c.receive(short, 2)
    bad_app = bytearray(mme.slac_parm_req(mme.BROADCAST, EV, RUN))
    bad_app[19] = 7
    c.receive(bytes(bad_app), 3)
    bad_mmv = bytearray(mme.slac_parm_req(mme.BROADCAST, EV, RUN))
    bad_mmv[14] = 9
    c.receive(bytes(bad_mmv), 4)
    c.receive(b"\x00" * 5, 5)
    ipv6 = EVSE + EV + b"\x86\xdd" + bytes(50)
    c.receive(ipv6, 6)
    assert c.errors["vendor"] == 1 and c.errors["short"] == 2 and c.errors["field"] == 1
    assert c.errors["mmv"] == 1
    assert c.state == se.WAIT_PARM and c.to_send(7) == []
    # and the core still works afterwards
    now = run_to_atten(c, 10, profile=bytes([5] * 58))
    assert types(c.to_send(now)) == [mme.CM_ATTEN_CHAR | mme.IND]


def test_frames_for_other_stations_and_other_runs_are_ignored():
    c = ready()
    c.receive(mme.slac_parm_req(mme.BROADCAST, EV, RUN), 0)
    c.to_send(0)
    c.receive(mme.start_atten_char_ind(mme.BROADCAST, EV, b"\x01" * 8, EV), 1)
    assert c.state == se.WAIT_START_ATTEN and c.errors["run_id"] == 1
    c.receive(mme.atten_char_rsp(b"\x02\x00\x00\x00\x00\x09", EV, RUN), 2)
    assert c.errors["foreign"] == 1


def test_tx_queue_is_bounded():
    c = ready(max_frames=2)
    for i in range(5):
        c.receive(mme.slac_parm_req(mme.BROADCAST, EV, bytes([i]) * 8), i)
    assert len(c.to_send(10)) == 2 and c.dropped_tx == 3


def test_idle_calls_hand_back_one_shared_empty_list():
    # waiting for the car: nothing to send, no events; no new list per call (MicroPython heap)
    c = ready()
    a, b = c.to_send(1), c.to_send(2)
    e, f = c.events(), c.events()
    assert a == [] and a is b and e == [] and e is f
    c.receive(mme.slac_parm_req(mme.BROADCAST, EV, RUN), 3)
    out = c.to_send(3)
    assert len(out) == 1 and out is not a and c.to_send(4) == [] and a == []
