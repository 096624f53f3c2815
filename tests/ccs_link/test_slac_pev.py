"""SLAC interop: the EVSE core (CPython, AF_PACKET) against the reference PEV
`pev` (Debian plc-utils-extra) across veth pairs and emulated modems in
network namespaces this test creates. Needs root, as CI runs `make test`."""
import re

import pytest

from firmware.protocols.ccs.slac import evse as se
from firmware.protocols.ccs.slac import mme
from hil.ccs import netns
from hil.ccs import slac_interop as si


def _avg_attenuation(out):
    m = re.search(r"Average attenuation \((\d+)\) less than limit", out)
    return int(m.group(1)) if m else None


def _check_matched(r):
    assert r.pev_rc == 0, r.pev_out
    assert "<-- CM_SLAC_MATCH.CNF" in r.pev_out and "Charging" in r.pev_out, r.pev_out
    ev = [e for _t, e in r.events if e[0] == "matched"]
    assert len(ev) == 1 and ev[0][1] == si.PEV_MAC
    core = r.core
    # our modem got the fresh key first, the car's modem got the same key from pev after MATCH.CNF
    assert r.evse_modem_keys[-1] == (core.nid, core.nmk)
    assert (core.nid, core.nmk) in r.ev_modem_keys
    assert core.nid == mme.nid_from_nmk(core.nmk)
    assert r.match_ms is not None and r.parm_ms is not None and r.match_ms > r.parm_ms
    return core


def test_pev_matches_with_synthesised_attenuation():
    r = si.run_pev_match()
    core = _check_matched(r)
    assert _avg_attenuation(r.pev_out) == se.SYNTH_DB  # pev saw our synthesised 9 dB groups
    assert sum(core.errors.values()) == 0, core.errors
    assert r.profiles_sent == 0


def test_pev_matches_with_modem_attenuation_profile():
    r = si.run_pev_match(atten_profile=bytes([23] * 58))
    _check_matched(r)
    assert r.profiles_sent == 10
    assert _avg_attenuation(r.pev_out) == 23


def test_fresh_nmk_each_session():
    a = si.run_pev_match()
    b = si.run_pev_match()
    _check_matched(a)
    _check_matched(b)
    assert a.core.nmk != b.core.nmk and a.core.nid != b.core.nid


def _drop_first(mmtype):
    """A tamper hook that loses the first frame of one MMTYPE the EVSE sends."""
    le = bytes((mmtype & 0xFF, mmtype >> 8))
    dropped = []

    def hook(fr):
        if fr[15:17] == le and not dropped:
            dropped.append(fr)
            return None
        return fr
    return hook, dropped


def test_lost_atten_char_ind_is_resent():
    hook, dropped = _drop_first(mme.CM_ATTEN_CHAR | mme.IND)
    r = si.run_pev_match(tamper=hook)
    _check_matched(r)
    assert dropped


def test_lost_parm_cnf_pev_retries_and_core_restarts():
    hook, dropped = _drop_first(mme.CM_SLAC_PARM | mme.CNF)
    r = si.run_pev_match(tamper=hook)
    core = _check_matched(r)
    assert dropped and core.restarts >= 1


def test_pev_refuses_attenuation_above_its_limit():
    """The rig can fail: a modem reporting 60 dB (above pev's 40 dB limit)
    makes pev refuse and start over; no match within the time box."""
    r = si.run_pev_match(atten_profile=bytes([60] * 58), timeout_s=4.0)
    assert "more than limit" in r.pev_out
    assert "<-- CM_SLAC_MATCH.CNF" not in r.pev_out


@pytest.fixture(autouse=True)
def _no_leftover_namespaces():
    yield
    assert netns.leftovers() == []
