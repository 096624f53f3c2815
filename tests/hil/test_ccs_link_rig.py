"""The CCS rig on the box's own link (issue 11, slice i11-linkrig): the real
firmware (BoxApp -> CcsDischarge -> CcsLink on hal.plc: one pilot, SLAC,
RawTransport) against the simulated car network (hil/ccs/ev_net.py: the car's
SLAC, modems, powerline, IPv6 host, TCP client) and the scripted EVCC, in
simulated time."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.charging import table as T
from firmware.hal.sim import SimFrameLink
from firmware.protocols.ccs import sdp
from firmware.protocols.ccs.net.stack import Stack
from firmware.protocols.ccs.slac import evse as se
from hil.ccs import ev_net
from hil.rigs.ccs import PHASES, CcsRig, plug_to_loop, run_session


def _kinds(r, who):
    return [k for _t, w, k in r.net.line.trace if w == who]


def test_a_session_runs_over_slac_nd_sdp_and_tcp():
    r = run_session({"loops": 12})
    assert r.ev.result == "completed", r.ev.log
    assert r.records()[-1]["current_demand_loops"] == 12
    assert r.state == T.READY_TO_UNPLUG and r.power.safety.sup.faults == 0
    link = r.power.link
    # one pilot core: the app's pilot is the link's
    assert r.power.pilot is link.cp
    assert r.net.slac_runs == 1 and link.slac.state == se.LINKED
    # the car's modem, the box's modem and the box's SLAC agree on the AVLN key
    assert r.net.ev_modem.nmk == r.net.box_modem.nmk == link.slac.nmk is not None
    ev = _kinds(r, "ev")
    box = _kinds(r, "evse")
    for k in ("CM_SLAC_PARM.REQ", "CM_START_ATTEN_CHAR.IND", "CM_MNBC_SOUND.IND", "CM_SLAC_MATCH.REQ",
              "SDP request", "NS", "TCP SYN", "TCP ACK data", "TCP ACK+FIN"):
        assert k in ev, (k, ev[:30])
    for k in ("CM_SLAC_PARM.CNF", "CM_ATTEN_CHAR.IND", "CM_SLAC_MATCH.CNF", "SDP response", "NA", "TCP SYN+ACK"):
        assert k in box, (k, box[:30])
    # the box's own stack carried the session
    c = link.transport.stack.counters
    assert c["tcp_in"] > 40 and c["checksum"] == 0
    # data frames before the car joined the AVLN did not cross (the box's NA at plug-in)
    assert r.net.line.blocked > 0
    first_ip = min(t for t, w, k in r.net.line.trace if w == "ev" and not k.startswith("CM_"))
    assert first_ip >= r.net.up_at


def test_every_renewal_is_a_new_slac_association_with_a_fresh_nmk():
    r = CcsRig(car={"loops": 0, "loop_limit_ms": 20000},
               cfg={"profile": "vw-meb", "renew_max": 2, "renew_pilot": "ef"})
    r.plug(); r.run(300); r.start()
    r.run(90000)
    assert [e.result for e in r.evs] == ["completed"] * 3
    assert r.net.slac_runs == 3
    keys = [k for _nid, k in r.net.box_modem.keys_set]
    assert len(keys) == 3 and len(set(keys)) == 3          # SET_KEY per session, never the same NMK
    assert [k for _nid, k in r.net.ev_modem.keys_set] == keys
    # the car restarted SLAC only after the E/F step (4 s of state F)
    assert all(b - a >= 4000 for a, b in zip(r.pwm_at, r.pwm_at[1:]))


@pytest.mark.parametrize("seed", [3, 6])
def test_a_lossy_line_is_survived_by_retransmission(seed):
    # 3 % of TCP segments lost (seeded; the line's loss streams are per direction, seeds
    # chosen where both sides lose segments): both TCPs retransmit inside the V2G timeouts
    r = CcsRig(car={"loops": 30}, loss=0.03, seed=seed, line={"only": ev_net.is_tcp})
    r.plug(); r.run(300); r.start()
    r.run_until(lambda r: r.ev is not None and r.ev.done and r.state == T.READY_TO_UNPLUG
                and not r.power.active, 120000)
    assert r.ev.result == "completed", r.ev.log
    assert r.net.line.lost >= 5
    box_rtx = r.power.link.transport.stack.counters["tcp_retransmits"]
    ev_rtx = sum(c.retransmits for c in r.net.host.conns.values())
    assert box_rtx > 0 and ev_rtx > 0
    assert r.records()[-1]["current_demand_loops"] == 30


def test_plug_to_loop_phases_add_up():
    r, marks, phases, total = plug_to_loop()
    assert [n for n, _ in phases] == [p[0] for p in PHASES]
    assert sum(ms for _, ms in phases) == total
    assert all(ms >= 0 for _, ms in phases)
    d = dict(phases)
    assert d["SLAC: PARM.REQ .. SLAC_MATCH.CNF"] >= 200     # 10 sounds 20 ms apart (reference PEV)
    assert d["CableCheck"] > 0 and marks["b"] - marks["plug"] >= 200   # pilot debounce


# ---------------------------------------------------------------- the car's network on its own
def _pair(loss=0.0):
    box_link = SimFrameLink()
    clk = [0]
    net = ev_net.EvNet(box_link, lambda: clk[0], loss=loss)
    return box_link, net, clk


def test_no_ip_crosses_before_the_car_has_the_key():
    box_link, net, clk = _pair()
    net.host.send_udp(b"\xff\x02" + bytes(13) + b"\x01", 50000, ev_net.SDP_PORT, sdp.encode_request())
    for t in range(10):
        clk[0] = t
        net.step(t)
    assert box_link.rx == [] and net.line.blocked == 1
    # same NMK on both modems: the datagram crosses
    net.box_modem.nmk = net.ev_modem.nmk = b"k" * 16
    net.box_modem.nid = net.ev_modem.nid = b"n" * 7
    net.host.send_udp(b"\xff\x02" + bytes(13) + b"\x01", 50000, ev_net.SDP_PORT, sdp.encode_request())
    for t in range(10, 20):
        net.step(t)
    assert len(box_link.rx) == 1


def _joined(box_link, net, stack, t0, t1):
    """Run the box stack (as RawTransport would) and the car network from t0 to t1."""
    for t in range(t0, t1):
        while box_link.rx:
            stack.receive(box_link.rx.pop(0), t)
        nt = stack.next_timer()
        if nt is not None and t >= nt:
            stack.handle_timer(t)
        ev = stack.events()
        for f in stack.to_send(t):
            box_link.tx.append(bytes(f))
        net.step(t)
        yield t, ev


def test_tcp_client_against_the_box_stack_both_ways_and_close():
    box_link, net, clk = _pair()
    for m in (net.box_modem, net.ev_modem):
        m.nmk, m.nid = b"k" * 16, b"n" * 7
    stack = Stack(b"\x02\x56\x32\x58\x00\x01", lambda n: bytes(range(1, n + 1)))
    stack.listen(50000)
    cid = net.host.connect(stack.ip, 50000, 0)
    got = bytearray()
    box_cid = None
    big = bytes(range(256)) * 20                  # 5 kB: several segments of the box's MSS
    for t, evs in _joined(box_link, net, stack, 0, 400):
        clk[0] = t
        for e in evs:
            if e[0] == "connected":
                box_cid = e[1]
                stack.tcp_send(box_cid, big, t)
            elif e[0] == "data":
                got.extend(e[2])
        if t == 100:
            net.v2g.ev_send(cid, b"hello box")
        if t == 300:
            net.v2g.ev_close(cid)
    assert bytes(got) == b"hello box"
    assert net.v2g.ev_recv(cid) == big
    c = net.host.conns[cid]
    assert c.fin_acked and net.host.counters["ns_sent"] == 1


def test_connection_refused_and_unresolvable_neighbour_end_the_connection():
    box_link, net, clk = _pair()
    for m in (net.box_modem, net.ev_modem):
        m.nmk, m.nid = b"k" * 16, b"n" * 7
    stack = Stack(b"\x02\x56\x32\x58\x00\x01", lambda n: bytes(range(1, n + 1)))
    cid = net.host.connect(stack.ip, 50001, 0)     # nobody listens: RST
    for _t, _e in _joined(box_link, net, stack, 0, 100):
        pass
    assert net.v2g.ev_closed(cid) and net.host.conns[cid].reason == "reset"
    ghost = b"\xfe\x80" + bytes(6) + b"\x00\x11\x22\xff\xfe\x33\x44\x55"
    cid2 = net.host.connect(ghost, 50000, 100)
    for _t, _e in _joined(box_link, net, stack, 100, 100 + 4 * ev_net.ND_INTERVAL_MS):
        pass
    assert net.v2g.ev_closed(cid2) and net.host.conns[cid2].reason == "no neighbour"


def test_garbage_frames_are_counted_not_fatal():
    box_link, net, clk = _pair()
    for f in (b"", b"\x00" * 13, b"\xff" * 6 + b"\x02" * 6 + b"\x86\xdd" + b"\x60" + bytes(10),
              b"\xff" * 6 + b"\x02" * 6 + b"\x88\xe1" + b"\x01\x00"):
        net._ev_frame(f, 0) if len(f) >= 14 else None
        net.host.receive(f, 0)
    assert net.host.counters["bad"] >= 3
    assert ev_net.classify(b"") == "runt"


def test_a_failed_association_is_retried_through_the_ef_step():
    # the line is down from the car's sounds to past the box's ATTEN_CHAR retries: the box's
    # SLAC gives up, asks the pilot for E/F (4 s), the car sees 5 % again and starts over
    r = CcsRig(car={"loops": 12})
    r.plug(); r.run(300); r.start()
    r.at(360, lambda rig: setattr(rig.net.line, "up", False))
    r.at(3000, lambda rig: setattr(rig.net.line, "up", True))
    r.run_until(lambda r: r.ev is not None and r.ev.done and r.state == T.READY_TO_UNPLUG
                and not r.power.active, 60000)
    assert r.ev.result == "completed", r.ev.log
    slac = [e[1] for _t, e in r.power.link_log if e[0] == "slac"]
    assert "restart" in slac and "ef_step" in slac and slac.index("restart") < slac.index("linked")
    assert r.net.slac_runs == 2 and r.pwm_at[1] - r.pwm_at[0] >= 4000
    keys = [k for _nid, k in r.net.box_modem.keys_set]
    assert len(keys) == 2 and keys[0] != keys[1]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.one_of(
    st.binary(max_size=120),
    st.binary(min_size=2, max_size=120).map(lambda b: bytes(12) + b"\x86\xdd" + b),
    st.binary(min_size=2, max_size=80).map(lambda b: b"\xff" * 6 + bytes(6) + b"\x88\xe1" + b)), max_size=12),
    at=st.integers(min_value=350, max_value=1500))
def test_junk_on_the_modem_link_mid_session_is_dropped(frames, at):
    # anything arriving at the box's modem link during SLAC / SDP / the session: dropped and counted
    r = CcsRig(car={"loops": 12})
    r.plug(); r.run(300); r.start()
    r.at(at, lambda rig: rig.hal.plc.rx.extend(frames))
    r.run_until(lambda r: r.ev is not None and r.ev.done and r.state == T.READY_TO_UNPLUG
                and not r.power.active, 60000)
    assert r.ev.result == "completed", r.ev.log
    assert r.power.safety.sup.faults == 0


def test_sdp_is_resent_until_answered_and_bad_replies_are_dropped():
    box_link, net, clk = _pair()
    for m in (net.box_modem, net.ev_modem):
        m.nmk, m.nid = b"k" * 16, b"n" * 7
    net.v2g.ev_sdp((b"", 50123), sdp.encode_request())
    for t in range(0, 1500):
        clk[0] = t
        net.step(t)
    assert net.v2g.sdp_requests == 1 + ev_net.SDP_RESENDS
    assert len(box_link.rx) == net.v2g.sdp_requests           # all crossed; nobody answered
    # a reply that is not an SDP response is dropped; a good one is taken and stops the resends
    net.host.udp[50123] = [((b"\xfe\x80" + bytes(14), 15118), b"\x01\xfe\x90\x01\x00\x00\x00\x00")]
    assert net.v2g.ev_sdp_replies() == [] and net.v2g.bad_replies == 1
    with pytest.raises(OSError):
        net.v2g.ev_connect()
