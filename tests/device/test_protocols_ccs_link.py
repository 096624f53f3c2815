"""CcsLink: pilot, SLAC and the transport composed on one (simulated) modem link."""
import firmware  # noqa: F401
from firmware.hal.sim import SimFrameLink
from firmware.protocols.ccs import cp
from firmware.protocols.ccs.link import CcsLink
from firmware.protocols.ccs.slac import evse as se
from firmware.protocols.ccs.slac import mme

BOX = b"\x02\xe5\xe0\x00\x00\x01"
EV = b"\x02\xee\x00\x00\x00\x01"
MODEM = b"\x00\xb0\x52\xe5\x00\x01"
RUN = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def rng(n):
    return bytes(range(3, 3 + n))


def run(link, hi, t0, t1, step=10):
    ev = []
    t = t0
    while t < t1:
        on, _d, f = link.cp.request()
        ev += link.step(t, -12000 if f else hi, -12000 if on or f else None)
        t += step
    return ev


def test_plug_in_starts_slac_and_transport_unplug_stops():
    fl = SimFrameLink()
    link = CcsLink(fl, BOX, rng, tcp_port=50000)
    run(link, 12000, 0, 200)
    assert fl.tx == [] and link.slac.state == se.IDLE and not link.transport.is_open
    ev = run(link, 9000, 200, 600)
    assert ("pilot", "A", "B") in [e[:3] for e in ev]
    assert link.cp.request() == (True, 50, False) and link.transport.is_open
    kinds = [f[12:14] for f in fl.tx]
    assert b"\x88\xe1" in kinds and b"\x86\xdd" in kinds       # SET_KEY to the modem + our NA
    fl.tx = []
    fl.rx.append(mme.set_key_cnf(BOX, MODEM))
    fl.rx.append(mme.slac_parm_req(mme.BROADCAST, EV, RUN))
    run(link, 9000, 600, 650)
    assert link.slac.state == se.WAIT_START_ATTEN
    assert mme.decode(fl.tx[-1])["name"] == "CM_SLAC_PARM.CNF"
    run(link, 12000, 650, 1000)
    assert link.slac.state == se.IDLE and link.cp.request() == (False, 0, False)


def test_slac_failure_asks_the_pilot_for_an_ef_step():
    fl = SimFrameLink()
    link = CcsLink(fl, BOX, rng, tcp_port=50000)
    run(link, 9000, 0, 400)
    fl.rx.append(mme.set_key_cnf(BOX, MODEM))
    fl.rx.append(mme.slac_parm_req(mme.BROADCAST, EV, RUN))
    ev = run(link, 9000, 400, 400 + se.TT_MATCH_SEQUENCE + 100)   # no START_ATTEN_CHAR: sequence timeout
    assert ("slac", "ef_step", se.T_STEP_EF) in ev
    assert link.cp.request() == (False, 0, True)                  # state F
    run(link, 9000, 1000, 1000 + cp.T_STEP_EF_MS)
    assert link.cp.request() == (True, 50, False)                 # back to 5 %


def test_app_mode_plug_in_opens_the_transport_and_the_app_starts_slac():
    fl = SimFrameLink()
    link = CcsLink(fl, BOX, rng, tcp_port=50000, auto_slac=False)
    run(link, 9000, 0, 400)
    assert link.transport.is_open and link.slac.state == se.IDLE
    assert [f for f in fl.tx if f[12:14] == b"\x88\xe1"] == []
    out = []
    link.start_slac(400)
    link.service(400, out)
    assert link.slac.state == se.SET_KEY
    assert mme.decode(fl.tx[-1])["name"] == "CM_SET_KEY.REQ"
    # the app feeds the pilot's events itself: an unplug stops SLAC
    ev = link.on_pilot([("state", cp.B, cp.A, 500)], 500)
    assert ev == [("pilot", cp.B, cp.A, 500)] and link.slac.state == se.IDLE
    fl.rx.append(mme.slac_parm_req(mme.BROADCAST, EV, RUN))
    link.drain()
    assert fl.recv() is None and link.slac.state == se.IDLE
