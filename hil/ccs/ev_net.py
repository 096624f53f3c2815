"""The car's side of the CCS link in simulated time: its SLAC, its modem, the
powerline to the box's modem, and a minimal IPv6 host with a TCP client, so
the scripted EVCC reaches the box's firmware through the box's own stack
(SLAC, ND, UDP SDP, TCP) instead of a MemoryTransport. No sockets, no
threads, no wall clock: `step(now)` is called by the rig every simulated ms.

    box host (firmware, hal.plc = SimFrameLink) -- [Modem "evse"] ==SimLine== [Modem "ev"] -- EvHost + SimPev
                                                                                               `- EvV2g: ev_* API

  * modems and the AVLN rule are hil/ccs/modem.py's (`Modem`, `PlcLine.passes`):
    SET_KEY answered by the modem itself, SLAC MMEs cross whatever the keys,
    data frames only between modems holding the same NMK (so IP works only
    after SLAC and both SET_KEYs);
  * SLAC: hil/ccs/slac_sim.SimPev (the reference PEV's timing); once matched
    the car gives its modem the NMK/NID from CM_SLAC_MATCH.CNF (CM_SET_KEY),
    and the link is up at the modem's CM_SET_KEY.CNF;
  * `SimLine`: the powerline with a delay and seeded impairments on ANY
    frame (SLAC, ND, SDP, TCP), per direction: loss, duplication, reorder
    (slice i11-lossy); every frame put on the line is traced (t, from, kind)
    for the phase reports;
  * `EvHost`: link-local address (modified EUI-64 of the car's MAC), NS/NA
    (answers NS for its address, resolves the box with NS to its
    solicited-node group, RFC 4861), UDP, TCP client connections (`EvTcp`);
  * `EvTcp`: active open (SYN with MSS, RFC 9293), in-order delivery (a
    segment past a hole is dropped and answered with a duplicate ACK, the
    sender fills the hole), cumulative ACKs, go-back-N retransmission on a
    timer (RFC 6298 SRTT/RTTVAR, Karn's rule, RTO in RTO_MIN..RTO_MAX as the
    box's TCP, doubled per expiry, given up after MAX_RETRIES), FIN both
    ways, RST;
  * `EvV2g`: MemoryTransport's peer API (ev_sdp, ev_sdp_replies, ev_connect,
    ev_send, ev_recv, ev_close, ev_closed) over the host, so the scripted
    EVCC (hil/ccs/evcc) runs unchanged on the real link. ev_connect goes to
    the endpoint of the last SDP response; an SDP request is resent every
    SDP_RESEND_MS until answered (EVCCs repeat SDP requests: DIN 70121 /
    ISO 15118-2 allow up to 50), so one lost datagram does not end a session.
"""
import heapq
import random

from firmware.protocols.ccs import sdp
from firmware.protocols.ccs.net import ipv6
from firmware.protocols.ccs.net import tcp
from firmware.protocols.ccs.slac import mme
from hil.ccs.modem import Modem, PlcLine
from hil.ccs.slac_sim import SimPev

EV_MAC = b"\x02\xee\x00\x00\x00\x01"         # the car's host (as slac_sim.EV)
EV_MODEM_MAC = b"\x00\xb0\x52\xee\x00\x01"
EVSE_MODEM_MAC = b"\x00\xb0\x52\xe5\x00\x01"  # the box's QCA7000
SDP_PORT = 15118
# The box's modem is a QCA7000 (firmware/hal/qca7000.py), which reports CM_ATTEN_PROFILE.IND
# per sound; the values are a short cable's, as the SLAC interop tests use (tests/ccs_link).
QCA_ATTEN_PROFILE = bytes([23] * 58)
LINE_DELAY_MS = 1            # one PLC hop, both ways (team; Green PHY frames take ~1 ms)

ICMP_NS = 135
ICMP_NA = 136
ND_RETRIES = 3               # RFC 4861 MAX_MULTICAST_SOLICIT
ND_INTERVAL_MS = 1000        # RFC 4861 RETRANS_TIMER

MSS = 1220                   # as the box: IPv6 minimum MTU 1280 - 40 - 20
RCV_WND = 8192
RTO_INIT_MS = 1000           # RFC 6298 initial RTO
RTO_MIN_MS = 200
RTO_MAX_MS = 2000
MAX_RETRIES = 8
SDP_RESEND_MS = 100          # inside the scripted EVCC's 250 ms SDP wait
SDP_RESENDS = 10


def classify(frame):
    """A short name for a frame, for the trace: MME names, NS/NA, SDP, TCP flags."""
    if len(frame) < 14:
        return "runt"
    et = frame[12:14]
    if et == b"\x88\xe1":
        try:
            return mme.name_of(mme.header(frame)[3])
        except mme.MmeError:
            return "MME?"
    if et != b"\x86\xdd" or len(frame) < 54:
        return "other"
    nh = frame[20]
    p = frame[54:]
    if nh == ipv6.NH_ICMPV6 and p:
        return {ICMP_NS: "NS", ICMP_NA: "NA"}.get(p[0], "ICMPv6")
    if nh == ipv6.NH_UDP and len(p) >= 8:
        sp, dp = (p[0] << 8) | p[1], (p[2] << 8) | p[3]
        if dp == SDP_PORT:
            return "SDP request"
        if sp == SDP_PORT:
            return "SDP response"
        return "UDP"
    if nh == ipv6.NH_TCP and len(p) >= 20:
        f = p[13]
        names = [n for bit, n in ((tcp.SYN, "SYN"), (tcp.ACK, "ACK"), (tcp.FIN, "FIN"), (tcp.RST, "RST"))
                 if f & bit]
        hl = (p[12] >> 4) * 4
        return "TCP %s%s" % ("+".join(names), " data" if len(p) > hl else "")
    return "IPv6"


DIRECTIONS = ("ev", "evse")          # the sending modem: car -> box, box -> car
REORDER_MS = 5                       # a held-back frame arrives this much later (several 1 ms hops)


class SimLine(PlcLine):
    """The powerline in simulated time: frames put on it at `now` reach the
    other modems `delay_ms` later. A real powerline loses any frame (SLAC
    MMEs, NS/NA, SDP datagrams, TCP segments alike), so the impairments act
    on every frame, per direction (the sending modem's name, "ev" or
    "evse"), each direction with its own seeded stream (the same run loses
    the same frames):

      loss     probability a frame is lost: a float (both ways) or
               {"ev": p, "evse": p}
      dup      probability a frame that crosses is delivered twice (the
               copy `delay_ms` after the original)
      reorder  probability a frame that crosses is held back `reorder_ms`
               extra, so frames sent after it overtake it
      only     None (every frame) or a predicate on the frame: only those
               frames are impaired (e.g. `is_tcp`, the old TCP-only option)
    """

    def __init__(self, *modems, loss=0.0, delay_ms=LINE_DELAY_MS, seed=1, dup=0.0, reorder=0.0,
                 reorder_ms=REORDER_MS, only=None):
        PlcLine.__init__(self, *modems)
        self.loss = _per_dir(loss, "loss")
        self.dup = _per_dir(dup, "dup")
        self.reorder = _per_dir(reorder, "reorder")
        if not isinstance(reorder_ms, int) or reorder_ms < 1:
            raise ValueError("reorder_ms must be a positive int (ms), got %r" % (reorder_ms,))
        self.reorder_ms = reorder_ms
        self.only = only
        self.delay_ms = delay_ms
        self.rnd = {d: random.Random("%s/%s" % (seed, d)) for d in DIRECTIONS}
        self.now = 0
        self.q = []                  # (due, n, modem, frame)
        self._n = 0
        self.lost = 0
        self.lost_by = {}            # kind -> frames lost
        self.duplicated = 0
        self.reordered = 0
        self.trace = []              # (t, from modem name, kind)
        self._extra = 0              # this frame's extra delay (reorder)
        self._copies = 1

    def _impaired(self, d, p, frame):
        return p.get(d, 0.0) > 0.0 and (self.only is None or self.only(frame)) and self.rnd[d].random() < p[d]

    def carry(self, src, frame):
        frame = bytes(frame)
        self._extra = 0
        self._copies = 1
        if self.up:
            kind = classify(frame)
            self.trace.append((self.now, src.name, kind))
            d = src.name
            if self._impaired(d, self.loss, frame):
                self.lost += 1
                self.lost_by[kind] = self.lost_by.get(kind, 0) + 1
                return
            if self._impaired(d, self.dup, frame):
                self.duplicated += 1
                self._copies = 2
            if self._impaired(d, self.reorder, frame):
                self.reordered += 1
                self._extra = self.reorder_ms
        PlcLine.carry(self, src, frame)

    def deliver(self, modem, frame):
        for i in range(self._copies):
            self._n += 1
            heapq.heappush(self.q, (self.now + self.delay_ms * (1 + i) + self._extra, self._n, modem, frame))

    def advance(self, now):
        self.now = now
        q = self.q
        while q and q[0][0] <= now:
            _t, _n, m, frame = heapq.heappop(q)
            m.to_host(frame)


def _per_dir(v, what):
    """A probability for both directions, or {"ev": p, "evse": p} -> dict; bad values raise."""
    d = dict(v) if isinstance(v, dict) else {k: v for k in DIRECTIONS}
    for k, p in d.items():
        if k not in DIRECTIONS:
            raise ValueError("%s: unknown direction %r (use %s)" % (what, k, "/".join(DIRECTIONS)))
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError("%s must be a probability in [0, 1), got %r" % (what, p))
        d[k] = float(p)
    return d


def is_tcp(frame):
    """An IPv6 frame carrying TCP (for SimLine's `only`)."""
    return frame[12:14] == b"\x86\xdd" and len(frame) > 20 and frame[20] == ipv6.NH_TCP


# ---------------------------------------------------------------- TCP client
SYN_SENT = "SYN_SENT"
ESTABLISHED = "ESTABLISHED"
CLOSED = "CLOSED"


class EvTcp:
    def __init__(self, host, cid, dst, dport, sport, iss, now):
        self.host = host
        self.id = cid
        self.dst = dst
        self.dport = dport
        self.sport = sport
        self.iss = iss
        self.state = SYN_SENT
        self.snd_una = iss
        self.snd_nxt = (iss + 1) & tcp.MASK
        self.buf = bytearray()       # bytes from snd_una (after the SYN) on: unacked + unsent
        self.peer_wnd = 0
        self.peer_mss = 536          # RFC 9293 default until the SYN-ACK says more
        self.rcv_nxt = 0
        self.rx = bytearray()
        self.high = None             # snd_nxt before a go-back-N resend (no RTT samples below it)
        self.fin_wanted = False
        self.fin_sent = False
        self.fin_acked = False
        self.peer_fin = False
        self.reason = ""             # why it closed
        self.rto = RTO_INIT_MS
        self.srtt = None
        self.rttvar = 0
        self._rtt = None             # (seq that ends the timed segment, sent at): one sample in flight
        self.timer = None
        self.retries = 0
        self.retransmits = 0
        self.dup_acks_sent = 0
        self._seg(tcp.SYN, iss, mss=MSS)
        self.syn_at = now
        self.timer = now + self.rto

    # ------------------------------------------------------------ output
    def _seg(self, flags, seq, data=b"", mss=0):
        ack = self.rcv_nxt if flags & tcp.ACK else 0
        self.host.ip_out(self.dst, ipv6.NH_TCP,
                         tcp.build(self.host.ip, self.dst, self.sport, self.dport, seq, ack, flags, RCV_WND, data, mss))

    def _ack(self):
        self._seg(tcp.ACK, self.snd_nxt)

    @property
    def _resending(self):
        return self.high is not None and tcp.lt(self.snd_nxt, self.high)

    def _flight(self):
        return tcp.d(self.snd_nxt, self.snd_una)

    def _push(self, now):
        if self.state != ESTABLISHED:
            return
        mss = min(MSS, self.peer_mss)
        while True:
            off = self._flight()
            left = len(self.buf) - off
            room = self.peer_wnd - off
            if left <= 0 or room <= 0:
                break
            n = min(left, mss, room)
            self._seg(tcp.ACK | tcp.PSH, self.snd_nxt, bytes(self.buf[off:off + n]))
            self.snd_nxt = (self.snd_nxt + n) & tcp.MASK
            if self._rtt is None and self.snd_nxt == (self.snd_una + off + n) & tcp.MASK and not self._resending:
                self._rtt = (self.snd_nxt, now)
            if self.timer is None:
                self.timer = now + self.rto
        if self.fin_wanted and not self.fin_sent and self._flight() == len(self.buf):
            self._seg(tcp.FIN | tcp.ACK, self.snd_nxt)
            self.snd_nxt = (self.snd_nxt + 1) & tcp.MASK
            self.fin_sent = True
            if self.timer is None:
                self.timer = now + self.rto

    def send(self, data, now):
        if self.state == CLOSED or self.fin_wanted:
            return False
        self.buf.extend(data)
        self._push(now)
        return True

    def close(self, now):
        if self.state == CLOSED or self.fin_wanted:
            return
        if self.state == SYN_SENT:
            self._closed("local")
            return
        self.fin_wanted = True
        self._push(now)

    def _closed(self, reason):
        if self.state != CLOSED:
            self.state = CLOSED
            self.reason = reason
            self.timer = None

    # ------------------------------------------------------------ timer
    def handle_timer(self, now):
        if self.timer is None or now < self.timer or self.state == CLOSED:
            return
        self.retries += 1
        if self.retries > MAX_RETRIES:
            self._closed("timeout")
            return
        self.rto = min(self.rto * 2, RTO_MAX_MS)
        self.timer = now + self.rto
        self.retransmits += 1
        self._rtt = None             # Karn: no sample across a retransmission
        if self.state == SYN_SENT:
            self._seg(tcp.SYN, self.iss, mss=MSS)
            return
        # go-back-N from the oldest unacknowledged byte (the FIN too, if it was out)
        self.high = self.snd_nxt
        self.snd_nxt = self.snd_una
        self.fin_sent = False
        self._push(now)

    # ------------------------------------------------------------ input
    def on_segment(self, seg, now):
        if self.state == CLOSED:
            return
        f = seg.flags
        if f & tcp.RST:
            if self.state != SYN_SENT or (f & tcp.ACK and seg.ack == (self.iss + 1) & tcp.MASK):
                self._closed("reset")
            return
        if self.state == SYN_SENT:
            if f & tcp.SYN and f & tcp.ACK and seg.ack == (self.iss + 1) & tcp.MASK:
                self.rcv_nxt = (seg.seq + 1) & tcp.MASK
                self.snd_una = seg.ack
                self.peer_wnd = seg.wnd
                if seg.mss:
                    self.peer_mss = seg.mss
                self.state = ESTABLISHED
                self.timer = None
                if self.retries == 0:
                    self._sample(now - self.syn_at)
                self.retries = 0
                self._ack()
                self._push(now)
            return
        if f & tcp.SYN:              # a resent SYN-ACK: our ACK was lost
            self._ack()
            return
        if f & tcp.ACK:
            self._on_ack(seg, now)
        if seg.data or f & tcp.FIN:
            self._on_data(seg)

    def _on_ack(self, seg, now):
        self.peer_wnd = seg.wnd
        adv = tcp.d(seg.ack, self.snd_una)
        if adv == 0 or adv > self._flight():
            self._push(now)          # a window update, or nothing new
            return
        data_acked = min(adv, len(self.buf))
        del self.buf[:data_acked]
        if adv > data_acked:         # our FIN is acknowledged too
            self.fin_acked = True
        self.snd_una = seg.ack
        self.retries = 0
        if self._rtt is not None and tcp.le(self._rtt[0], seg.ack):
            self._sample(now - self._rtt[1])
            self._rtt = None
        elif self.srtt is not None:
            self.rto = self._rto()   # back from the backoff after new data is acknowledged
        self.timer = None if self._flight() == 0 else now + self.rto
        self._push(now)
        if self.fin_acked and self.peer_fin:
            self._closed("local")

    def _rto(self):
        return max(RTO_MIN_MS, min(RTO_MAX_MS, self.srtt + max(1, 4 * self.rttvar)))

    def _sample(self, r):
        """RFC 6298 2.2/2.3 (alpha 1/8, beta 1/4)."""
        if self.srtt is None:
            self.srtt = r
            self.rttvar = r / 2.0
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = self._rto()

    def _on_data(self, seg):
        if seg.seq != self.rcv_nxt:
            self.dup_acks_sent += 1
            self._ack()              # out of order or old: drop, tell the sender where we are
            return
        if seg.data:
            self.rx.extend(seg.data)
            self.rcv_nxt = (self.rcv_nxt + len(seg.data)) & tcp.MASK
        if seg.flags & tcp.FIN and not self.peer_fin:
            self.peer_fin = True
            self.rcv_nxt = (self.rcv_nxt + 1) & tcp.MASK
        self._ack()
        if self.peer_fin and self.fin_acked:
            self._closed("peer")


# ---------------------------------------------------------------- host
class EvHost:
    """The car's IPv6 host: one link-local address, ND, UDP, TCP clients."""

    def __init__(self, mac, send_frame, seed=7):
        self.mac = bytes(mac)
        self.ip = ipv6.link_local_from_mac(self.mac)
        self.sn = ipv6.solicited_node(self.ip)
        self.send_frame = send_frame
        self.rnd = random.Random(seed)
        self.nc = {}                 # ip -> mac
        self.pending = {}            # ip -> [frames, tries, due]
        self.udp = {}                # port -> [((src_ip, src_port), payload)]
        self.conns = {}              # cid -> EvTcp
        self._next_cid = 1
        self.now = 0
        self.counters = {"rx": 0, "tx": 0, "bad": 0, "ns_sent": 0, "nd_unresolved": 0}

    # ------------------------------------------------------------ output
    def ip_out(self, dst, nh, payload, hop_limit=64):
        f = ipv6.frame(b"\x00" * 6, self.mac, self.ip, dst, nh, payload, hop_limit)
        if ipv6.is_multicast(dst):
            self._emit(ipv6.multicast_mac(dst), f)
        elif dst in self.nc:
            self._emit(self.nc[dst], f)
        elif dst in self.pending:
            self.pending[dst][0].append(f)
        else:
            self.pending[dst] = [[f], 1, self.now + ND_INTERVAL_MS]
            self._ns(dst)

    def _emit(self, mac, f):
        f[0:6] = mac
        self.counters["tx"] += 1
        self.send_frame(bytes(f))

    def _nd(self, t, dst, dst_mac, target, opt, flags=0):
        m = bytearray(32)
        m[0] = t
        m[4] = flags
        m[8:24] = target
        m[24] = opt
        m[25] = 1
        m[26:32] = self.mac
        ipv6.with_checksum(self.ip, dst, ipv6.NH_ICMPV6, m, 2)
        self._emit(dst_mac, ipv6.frame(b"\x00" * 6, self.mac, self.ip, dst, ipv6.NH_ICMPV6, m, 255))

    def _ns(self, target):
        self.counters["ns_sent"] += 1
        dst = ipv6.solicited_node(target)
        self._nd(ICMP_NS, dst, ipv6.multicast_mac(dst), target, 1)

    def send_udp(self, dst, sport, dport, payload):
        u = bytearray(8 + len(payload))
        u[0], u[1], u[2], u[3] = sport >> 8, sport & 0xFF, dport >> 8, dport & 0xFF
        u[4], u[5] = len(u) >> 8, len(u) & 0xFF
        u[8:] = payload
        ipv6.with_checksum(self.ip, dst, ipv6.NH_UDP, u, 6)
        self.ip_out(dst, ipv6.NH_UDP, u)

    def connect(self, dst, dport, now):
        self.now = now
        cid = self._next_cid
        self._next_cid += 1
        sport = 49152 + self.rnd.randrange(16384)
        iss = self.rnd.getrandbits(32)
        self.conns[cid] = EvTcp(self, cid, bytes(dst), dport, sport, iss, now)
        return cid

    def reset(self):
        """Unplugged: forget neighbours and connections."""
        self.nc.clear()
        self.pending.clear()
        self.udp.clear()
        for c in self.conns.values():
            c._closed("link down")

    # ------------------------------------------------------------ input
    def receive(self, frame, now):
        self.now = now
        self.counters["rx"] += 1
        try:
            smac, src, dst, nh, hop, p = ipv6.parse(frame)
        except ipv6.PacketError:
            self.counters["bad"] += 1
            return
        if dst != self.ip and dst != ipv6.ALL_NODES and dst != self.sn:
            return
        try:
            if nh == ipv6.NH_ICMPV6:
                self._icmp(smac, src, dst, hop, bytes(p))
            elif nh == ipv6.NH_UDP:
                self._udp(src, dst, bytes(p))
            elif nh == ipv6.NH_TCP and dst == self.ip:
                seg = tcp.parse(src, dst, p)
                for c in self.conns.values():
                    if c.dst == src and c.dport == seg.sport and c.sport == seg.dport:
                        c.on_segment(seg, now)
                        break
        except ipv6.PacketError:
            self.counters["bad"] += 1

    def _learn(self, ip, mac):
        self.nc[ip] = bytes(mac)
        p = self.pending.pop(ip, None)
        if p is not None:
            for f in p[0]:
                self._emit(mac, f)

    def _icmp(self, smac, src, dst, hop, p):
        if len(p) < 24 or hop != 255 or p[0] not in (ICMP_NS, ICMP_NA):
            return                   # RFC 4861 7.1.1/7.1.2: ND only with hop limit 255
        if ipv6.checksum(src, dst, ipv6.NH_ICMPV6, p) != 0:
            self.counters["bad"] += 1
            return
        target = bytes(p[8:24])
        lla = bytes(p[26:32]) if len(p) >= 32 and p[25] == 1 else bytes(smac)
        if p[0] == ICMP_NS:
            if target == self.ip and src != ipv6.UNSPECIFIED:
                self._learn(src, lla)
                self._nd(ICMP_NA, src, self.nc[src], self.ip, 2, 0x60)
        elif target in self.pending or target in self.nc:
            self._learn(target, lla)

    def _udp(self, src, dst, p):
        if len(p) < 8 or ipv6.checksum(src, dst, ipv6.NH_UDP, p) != 0:
            self.counters["bad"] += 1
            return
        dport = (p[2] << 8) | p[3]
        if dport in self.udp:
            self.udp[dport].append(((src, (p[0] << 8) | p[1]), bytes(p[8:])))

    # ------------------------------------------------------------ time
    def tick(self, now):
        self.now = now
        for ip in list(self.pending):
            p = self.pending[ip]
            if now >= p[2]:
                if p[1] >= ND_RETRIES:
                    del self.pending[ip]
                    self.counters["nd_unresolved"] += 1
                    for c in self.conns.values():
                        if c.dst == ip and c.state == SYN_SENT:
                            c._closed("no neighbour")
                else:
                    p[1] += 1
                    p[2] = now + ND_INTERVAL_MS
                    self._ns(ip)
        for c in list(self.conns.values()):
            if c.timer is not None:
                c.handle_timer(now)


# ---------------------------------------------------------------- the EVCC's socket API
class EvV2g:
    """MemoryTransport's peer side (`ev_*`) over the car's host: the scripted
    EVCC cannot tell the difference, except in time."""

    def __init__(self, host, now_fn):
        self.host = host
        self.now = now_fn
        self.server = None           # (ip16, port) from the last SDP response
        self._sdp = None             # [src_port, datagram, next resend, resends left]
        self._port = None
        self.sdp_requests = 0
        self.bad_replies = 0

    def ev_sdp(self, src_endpoint, datagram):
        port = src_endpoint[1]
        self._port = port
        self.host.udp[port] = []
        self._sdp = [port, bytes(datagram), self.now() + SDP_RESEND_MS, SDP_RESENDS]
        self._sdp_send()

    def _sdp_send(self):
        self.sdp_requests += 1
        self.host.send_udp(ipv6.ALL_NODES, self._sdp[0], SDP_PORT, self._sdp[1])

    def tick(self, now):
        s = self._sdp
        if s is not None and now >= s[2]:
            if s[3] <= 0:
                self._sdp = None
                return
            s[2] = now + SDP_RESEND_MS
            s[3] -= 1
            self._sdp_send()

    def ev_sdp_replies(self):
        """SDP responses to the EVCC's port; a valid one stops the resends and
        gives the endpoint ev_connect() goes to. Invalid datagrams are dropped."""
        got = self.host.udp.get(self._port) or []
        if got:
            self.host.udp[self._port] = []
        out = []
        for src, dg in got:
            try:
                addr, tport, _sec, _tr = sdp.decode_response(dg)
            except ValueError:           # SDPError, V2GTPError
                self.bad_replies += 1
                continue
            self.server = (addr, tport)
            self._sdp = None
            out.append((src, dg))
        return out

    def ev_connect(self):
        if self.server is None:
            raise OSError("connection refused: no SDP response yet")
        return self.host.connect(self.server[0], self.server[1], self.now())

    def ev_send(self, cid, data):
        c = self.host.conns.get(cid)
        if c is not None:
            c.send(bytes(data), self.now())

    def ev_recv(self, cid):
        c = self.host.conns.get(cid)
        if c is None or not c.rx:
            return b""
        out = bytes(c.rx)
        c.rx = bytearray()
        return out

    def ev_close(self, cid):
        c = self.host.conns.get(cid)
        if c is not None:
            c.close(self.now())

    def ev_closed(self, cid):
        c = self.host.conns.get(cid)
        return c is None or c.state == CLOSED or c.peer_fin

    def ev_connected(self, cid):
        """The three-way handshake of connection `cid` has completed (the EVCC's
        connect() would have returned)."""
        c = self.host.conns.get(cid)
        return c is not None and c.state != SYN_SENT


# ---------------------------------------------------------------- the car's link
class EvNet:
    """The car's modem, SLAC, host and EVCC socket API, and the powerline to
    the box's modem, whose host side is the box's FrameLink (SimFrameLink:
    `tx` = frames the firmware sent, `rx` = frames for the firmware).

        net = EvNet(hal.plc, clock.now_ms, loss=0.0)
        net.start_slac(now)        # the car saw 5 %: a new association
        net.step(now)              # every simulated ms
        net.up                     # the car's modem is in the box's AVLN
        net.v2g                    # ev_* API for the EVCC
    """

    def __init__(self, box_link, now_fn, loss=0.0, seed=1, evse_atten_profile=QCA_ATTEN_PROFILE,
                 ev_mac=EV_MAC, line=None):
        self.box_link = box_link
        self.now = now_fn
        self.box_modem = Modem("evse", EVSE_MODEM_MAC, box_link.rx.append, atten_profile=evse_atten_profile)
        self._ev_rx = []
        self.ev_modem = Modem("ev", EV_MODEM_MAC, self._ev_rx.append)
        self.line = SimLine(self.ev_modem, self.box_modem, loss=loss, seed=seed, **(line or {}))
        self.mac = bytes(ev_mac)
        self.host = EvHost(ev_mac, self.ev_modem.from_host, seed=seed + 6)
        self.v2g = EvV2g(self.host, now_fn)
        self.pev = None
        self.state = "idle"          # idle | slac | keys | up
        self.slac_runs = 0
        self.log = []                # (t, text)
        self.up_at = None

    @property
    def up(self):
        return self.state == "up"

    def start_slac(self, now):
        """The car (re)starts SLAC: it leaves the old AVLN first."""
        self.slac_runs += 1
        self.ev_modem.nmk = self.ev_modem.nid = None
        self.host.reset()
        run_id = self.mac + bytes((0, self.slac_runs & 0xFF))
        self.pev = SimPev(mac=self.mac, run_id=run_id)
        self.pev.start(now)
        self.state = "slac"
        self.up_at = None
        self.log.append((now, "SLAC start (run %d)" % self.slac_runs))

    def unplug(self, now):
        self.pev = None
        self.ev_modem.nmk = self.ev_modem.nid = None
        self.host.reset()
        self.state = "idle"
        self.log.append((now, "unplugged"))

    def first(self, kind, who, since=0):
        """Time of the first traced frame of `kind` from modem `who` at or after `since`, or None."""
        for t, w, k in self.line.trace:
            if t >= since and w == who and k == kind:
                return t
        return None

    def step(self, now):
        link = self.box_link
        line = self.line
        line.now = now
        if link.tx:
            out = link.tx
            link.tx = []
            for f in out:
                self.box_modem.from_host(f)
        line.advance(now)
        if self._ev_rx:
            frames = self._ev_rx[:]
            del self._ev_rx[:]
            for f in frames:
                self._ev_frame(f, now)
        pev = self.pev
        if pev is not None:
            if self.state == "slac":
                pev.tick(now)            # its PARM.REQ / MATCH.REQ resends
            if pev.out:
                due = [x for x in pev.out if x[0] <= now]
                if due:
                    pev.out = [x for x in pev.out if x[0] > now]
                    for _t, f in due:
                        self.ev_modem.from_host(f)
            if self.state == "slac" and pev.matched is not None:
                _t, nid, nmk = pev.matched   # CM_SLAC_MATCH.CNF: join the box's AVLN
                self.state = "keys"
                self.ev_modem.from_host(mme.set_key_req(mme.MODEM_LOCAL, self.mac, nid, nmk))
        self.host.tick(now)
        self.v2g.tick(now)

    def _ev_frame(self, f, now):
        if f[12:14] == b"\x88\xe1":
            try:
                mt = mme.header(f)[3]
            except mme.MmeError:
                return
            if mt == mme.CM_SET_KEY | mme.CNF:
                if self.state == "keys":
                    self.state = "up"
                    self.up_at = now
                    self.log.append((now, "link up: the car's modem joined the box's AVLN"))
                return
            if self.pev is not None and f[0:6] in (self.mac, mme.BROADCAST):
                try:
                    self.pev.receive(f, now)
                except mme.MmeError:
                    pass
            return
        if f[12:14] == b"\x86\xdd":
            self.host.receive(f, now)
