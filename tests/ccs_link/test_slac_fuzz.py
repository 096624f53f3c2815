"""Malformed and random frames never break the SLAC codec or the EVSE core:
every bad frame is counted, the state machine stays where it was."""
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.protocols.ccs.slac import evse as se
from firmware.protocols.ccs.slac import mme
from tests.device.test_protocols_ccs_slac import EV, EVSE, RUN, ready, run_to_atten

GOOD = [
    mme.slac_parm_req(mme.BROADCAST, EV, RUN),
    mme.start_atten_char_ind(mme.BROADCAST, EV, RUN, EV),
    mme.mnbc_sound_ind(mme.BROADCAST, EV, RUN, 3),
    mme.atten_profile_ind(EVSE, EV, EV, bytes([9] * 58)),
    mme.atten_char_ind(EV, EVSE, RUN, 10, bytes([9] * 58)),
    mme.atten_char_rsp(EVSE, EV, RUN),
    mme.slac_match_req(EVSE, EV, RUN),
    mme.slac_match_cnf(EV, EVSE, RUN, bytes(7), bytes(16)),
    mme.set_key_req(mme.MODEM_LOCAL, EVSE, bytes(7), bytes(16)),
    mme.set_key_cnf(EVSE, EV),
]


@given(st.binary(max_size=200))
@settings(max_examples=400)
def test_decode_random_bytes_raises_only_mme_error(data):
    try:
        mme.decode(data)
    except mme.MmeError as e:
        assert e.kind in se.ERROR_KINDS


@given(st.sampled_from(GOOD), st.integers(0, 89), st.integers(0, 255), st.integers(14, 120))
@settings(max_examples=600)
def test_mutated_and_truncated_frames(frame, pos, val, cut):
    f = bytearray(frame)
    f[pos % len(f)] = val
    f = bytes(f[:cut])
    try:
        mme.decode(f)
    except mme.MmeError:
        pass
    c = ready()
    c.receive(f, 1)          # whatever it is, no exception escapes the core
    c.to_send(1)
    assert c.state in (se.WAIT_PARM, se.WAIT_START_ATTEN)


@given(st.lists(st.binary(min_size=0, max_size=90), max_size=20))
@settings(max_examples=100)
def test_garbage_between_a_real_sequence_does_not_stop_the_match(junk):
    c = ready()
    for j in junk:
        c.receive(j, 0)
    now = run_to_atten(c, 0, profile=bytes([20] * 58))
    for j in junk:
        c.receive(j, now)
    out = [mme.decode(f)["type"] for f in c.to_send(now)]
    assert out[-1] == mme.CM_ATTEN_CHAR | mme.IND


def test_builders_roundtrip_through_decode():
    for f in GOOD:
        m = mme.decode(f)
        assert m["kind"] == "slac" and len(f) >= 60
        if "run_id" in m:
            assert m["run_id"] == RUN
