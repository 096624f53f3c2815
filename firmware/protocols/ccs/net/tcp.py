"""TCP, server side only (the SECC is the TCP server; RFC 9293), sans-IO.

One `TcpConn` per accepted connection. The stack hands it parsed segments
(`on_segment`) and the time; it returns TCP segments (bytes with checksum)
from `take_output()` and events from `take_events()`:
("connected", id) | ("data", id, bytes) | ("closed", id, reason).

What it does (and the numbers it uses):
- passive open: SYN -> SYN-ACK with our MSS option, ESTABLISHED on the ACK;
  a repeated SYN gets the SYN-ACK again; SYN-ACK retransmitted on RTO.
- MSS: ours 1220 (IPv6 minimum MTU 1280 - 40 - 20, fits every PLC modem);
  we send at most min(ours, the peer's).
- retransmission: RFC 6298 SRTT/RTTVAR (Karn: no samples from resent data),
  RTO clamped to [200 ms, 4 s] (team: the V2G request timeouts are 2 s, so
  the usual 1 s floor / 60 s cap would stall a session after one loss and
  delay the recovery after a PLC dropout), doubled per expiry, go-back-N
  from the oldest unacknowledged byte; fast retransmit on 3 duplicate
  ACKs; a small congestion window (start 4 segments, +1 per ACK, back to 1
  on RTO). The connection is given up after MAX_RETRIES expiries (about
  40 s with the cap), so a dropout of a few seconds is survived.
- receive: in-order data goes out as an event at once; up to OOO_MAX
  out-of-order segments inside the window are kept and spliced in when the
  hole fills; duplicates and out-of-window segments are answered with an
  ACK and dropped (counted); RST is honoured only at rcv_nxt (elsewhere in
  the window: challenge ACK, RFC 5961); SYN on a synchronised connection:
  challenge ACK.
- close: FIN after the queued data; the peer's FIN ends the session for the
  app ("closed", "peer closed") and our FIN follows; TIME_WAIT is short
  (TIME_WAIT_MS), the connection table being small.
- memory: send buffer SND_BUF bytes; advertised window = RCV_BUF minus data
  handed out but not yet taken by the app.
"""
from micropython import const

from firmware.protocols.ccs.net import ipv6

FIN = const(0x01)
SYN = const(0x02)
RST = const(0x04)
PSH = const(0x08)
ACK = const(0x10)

MSS = const(1220)
SND_BUF = const(8192)
RCV_BUF = const(8192)
OOO_MAX = const(4)
RTO_INIT = const(1000)
RTO_MIN = const(200)
RTO_MAX = const(4000)
MAX_RETRIES = const(12)
TIME_WAIT_MS = const(2000)
MASK = const(0xFFFFFFFF)
HALF = const(0x80000000)

SYN_RCVD = "SYN_RCVD"
ESTABLISHED = "ESTABLISHED"
CLOSE_WAIT = "CLOSE_WAIT"
LAST_ACK = "LAST_ACK"
FIN_WAIT_1 = "FIN_WAIT_1"
FIN_WAIT_2 = "FIN_WAIT_2"
CLOSING = "CLOSING"
TIME_WAIT = "TIME_WAIT"
CLOSED = "CLOSED"


def d(a, b):
    """Distance from b forward to a, modulo 2**32."""
    return (a - b) & MASK


def lt(a, b):
    x = (b - a) & MASK
    return x != 0 and x < HALF


def le(a, b):
    return ((b - a) & MASK) < HALF


class Segment:
    """A parsed TCP segment (fields as ints/bytes)."""

    def __init__(self, sport, dport, seq, ack, flags, wnd, mss, data):
        self.sport = sport
        self.dport = dport
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.wnd = wnd
        self.mss = mss
        self.data = data


def parse(src, dst, p):
    """TCP header + options from the IPv6 payload `p` (memoryview). Raises
    ipv6.PacketError for bad length, offset, options or checksum."""
    n = len(p)
    if n < 20:
        raise ipv6.PacketError("short", "TCP segment of %d bytes" % n)
    off = (p[12] >> 4) * 4
    if off < 20 or off > n:
        raise ipv6.PacketError("tcp_header", "TCP data offset %d" % off)
    if ipv6.checksum(src, dst, ipv6.NH_TCP, p) != 0:
        raise ipv6.PacketError("checksum", "TCP checksum")
    mss = 0
    i = 20
    while i < off:
        kind = p[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= off or p[i + 1] < 2 or i + p[i + 1] > off:
            raise ipv6.PacketError("tcp_option", "bad TCP option length")
        if kind == 2:
            if p[i + 1] != 4:
                raise ipv6.PacketError("tcp_option", "MSS option length %d" % p[i + 1])
            mss = (p[i + 2] << 8) | p[i + 3]
        i += p[i + 1]
    return Segment((p[0] << 8) | p[1], (p[2] << 8) | p[3],
                   (p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7],
                   (p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11],
                   p[13], (p[14] << 8) | p[15], mss, bytes(p[off:]))


def build(src, dst, sport, dport, seq, ack, flags, wnd, data=b"", mss=0):
    hl = 24 if mss else 20
    b = bytearray(hl + len(data))
    b[0] = sport >> 8
    b[1] = sport & 0xFF
    b[2] = dport >> 8
    b[3] = dport & 0xFF
    b[4] = (seq >> 24) & 0xFF
    b[5] = (seq >> 16) & 0xFF
    b[6] = (seq >> 8) & 0xFF
    b[7] = seq & 0xFF
    b[8] = (ack >> 24) & 0xFF
    b[9] = (ack >> 16) & 0xFF
    b[10] = (ack >> 8) & 0xFF
    b[11] = ack & 0xFF
    b[12] = (hl // 4) << 4
    b[13] = flags
    b[14] = wnd >> 8
    b[15] = wnd & 0xFF
    if mss:
        b[20] = 2
        b[21] = 4
        b[22] = mss >> 8
        b[23] = mss & 0xFF
    b[hl:] = data
    return ipv6.with_checksum(src, dst, ipv6.NH_TCP, b, 16)


def rst_for(src, dst, seg):
    """RST answering `seg` that belongs to no connection (RFC 9293 3.10.7.1)."""
    if seg.flags & ACK:
        return build(dst, src, seg.dport, seg.sport, seg.ack, 0, RST, 0)
    n = len(seg.data) + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
    return build(dst, src, seg.dport, seg.sport, 0, (seg.seq + n) & MASK, RST | ACK, 0)


class TcpConn:
    def __init__(self, cid, local, lport, remote, rport, syn, iss, now, counters):
        self.id = cid
        self.local = local
        self.lport = lport
        self.remote = remote
        self.rport = rport
        self.c = counters            # shared stack counters (dict)
        self.state = SYN_RCVD
        self.iss = iss & MASK
        self.snd_una = self.iss
        self.snd_nxt = (self.iss + 1) & MASK
        self.snd_wnd = syn.wnd
        self.peer_mss = syn.mss if syn.mss else 536   # RFC 9293: 536 when no option (IPv4 default; safe)
        self.mss = self.peer_mss if self.peer_mss < MSS else MSS
        self.irs = syn.seq
        self.rcv_nxt = (syn.seq + 1) & MASK
        self.sndbuf = bytearray()     # bytes from snd_una+1 (after SYN) on, unacked + unsent
        self.fin_queued = False
        self.fin_seq = None           # sequence number of our FIN once sent
        self.ooo = []                 # [(seq, data)] sorted, bounded by OOO_MAX
        self.rx_pending = 0           # data handed out, not yet taken by the app
        self._adv_right = self.rcv_nxt  # right window edge we last advertised
        self.srtt = 0
        self.rttvar = 0
        self.rto = RTO_INIT
        self.rtt_seq = None
        self.rtt_t = 0
        self.retries = 0
        self.rto_at = None
        self.tw_at = None
        self.cwnd = 4 * self.mss
        self.dupacks = 0
        self.closed_reported = False
        self.out = []
        self.events = []
        self._segment(now, SYN | ACK, self.iss, syn_mss=True)
        self.rto_at = now + self.rto

    # ------------------------------------------------------------ helpers
    def _wnd(self):
        w = RCV_BUF - self.rx_pending
        return w if w > 0 else 0

    def _segment(self, now, flags, seq, data=b"", syn_mss=False):
        w = self._wnd()
        if flags & ACK:
            self._adv_right = (self.rcv_nxt + w) & MASK
        self.out.append(build(self.local, self.remote, self.lport, self.rport, seq,
                              self.rcv_nxt if flags & ACK else 0, flags, w, data,
                              MSS if syn_mss else 0))
        self.c["tcp_out"] += 1

    def _ack_now(self, now):
        self._segment(now, ACK, self.snd_nxt)

    def _report_closed(self, reason):
        if not self.closed_reported:
            self.closed_reported = True
            self.events.append(("closed", self.id, reason))

    def _abort(self, now, reason, send_rst=True):
        if send_rst and self.state not in (CLOSED, TIME_WAIT):
            self._segment(now, RST | ACK, self.snd_nxt)
        self.state = CLOSED
        self.rto_at = None
        self.tw_at = None
        self.sndbuf = bytearray()
        self.ooo = []
        self._report_closed(reason)

    # ------------------------------------------------------------ app side
    def send(self, data, now):
        if self.fin_queued or self.state not in (SYN_RCVD, ESTABLISHED, CLOSE_WAIT):
            return False
        if len(self.sndbuf) + len(data) > SND_BUF:
            self.c["tcp_sndbuf_full"] += 1
            return False
        self.sndbuf.extend(data)
        self._push(now)
        return True

    def close(self, now):
        if self.state in (CLOSED, TIME_WAIT, FIN_WAIT_1, FIN_WAIT_2, CLOSING, LAST_ACK):
            return
        if self.state == SYN_RCVD:
            self._abort(now, "closed by app")
            return
        self.fin_queued = True
        self.state = FIN_WAIT_1 if self.state == ESTABLISHED else LAST_ACK
        self._push(now)

    def taken(self, n):
        """The app took n bytes of delivered data: the window opens again."""
        self.rx_pending -= n
        if self.rx_pending < 0:
            self.rx_pending = 0

    def window_update(self, now):
        """After `taken`: when the right edge of the window moved by two
        segments (or half the buffer) since we last advertised it, tell the
        peer at once (RFC 1122 4.2.3.3 receiver SWS avoidance); otherwise it
        would wait for its persist timer."""
        if self.state not in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2):
            return
        grow = d((self.rcv_nxt + self._wnd()) & MASK, self._adv_right)
        step = 2 * MSS if 2 * MSS < RCV_BUF // 2 else RCV_BUF // 2
        if step <= grow < HALF:
            self._ack_now(now)

    # ------------------------------------------------------------ output
    def _push(self, now):
        if self.state in (SYN_RCVD, CLOSED, TIME_WAIT):
            return
        mss = self.mss
        total = len(self.sndbuf)
        while True:
            sent = d(self.snd_nxt, self.snd_una)       # bytes (and FIN) in flight
            if sent < total:
                wnd = self.snd_wnd if self.snd_wnd < self.cwnd else self.cwnd
                room = wnd - sent
                if room <= 0:
                    break
                n = total - sent
                if n > mss:
                    n = mss
                if n > room:
                    n = room
                data = bytes(self.sndbuf[sent:sent + n])
                flags = ACK | (PSH if sent + n == total else 0)
                if self.rtt_seq is None:
                    self.rtt_seq = (self.snd_nxt + n) & MASK
                    self.rtt_t = now
                self._segment(now, flags, self.snd_nxt, data)
                self.snd_nxt = (self.snd_nxt + n) & MASK
                if self.rto_at is None:
                    self.rto_at = now + self.rto
                continue
            if self.fin_queued and sent == total:
                self.fin_seq = self.snd_nxt
                self._segment(now, FIN | ACK, self.snd_nxt)
                self.snd_nxt = (self.snd_nxt + 1) & MASK
                if self.rto_at is None:
                    self.rto_at = now + self.rto
            break
        if self.snd_wnd == 0 and total > d(self.snd_nxt, self.snd_una) and self.rto_at is None:
            self.rto_at = now + self.rto     # persist timer: probe the zero window

    def take_output(self):
        o = self.out
        self.out = []
        return o

    def take_events(self):
        e = self.events
        self.events = []
        return e

    def next_timer(self):
        a = self.rto_at
        b = self.tw_at
        if a is None:
            return b
        if b is None or a < b:
            return a
        return b

    def handle_timer(self, now):
        if self.tw_at is not None and now >= self.tw_at:
            self.tw_at = None
            self.state = CLOSED
            return
        if self.rto_at is None or now < self.rto_at:
            return
        self.rto_at = None
        self.retries += 1
        if self.retries > MAX_RETRIES:
            self.c["tcp_timeouts"] += 1
            self._abort(now, "retransmission timeout")
            return
        self.c["tcp_retransmits"] += 1
        self.rto = self.rto * 2 if self.rto * 2 < RTO_MAX else RTO_MAX
        self.rtt_seq = None                            # Karn
        if self.state == SYN_RCVD:
            self._segment(now, SYN | ACK, self.iss, syn_mss=True)
            self.rto_at = now + self.rto
            return
        inflight = d(self.snd_nxt, self.snd_una)
        if inflight == 0 and self.snd_wnd == 0 and self.sndbuf:
            # zero-window probe: one byte beyond the window (the peer ACKs with its window)
            self._segment(now, ACK, self.snd_una, bytes(self.sndbuf[0:1]))
            self.rto_at = now + self.rto
            return
        self.cwnd = self.mss
        self.snd_nxt = self.snd_una                    # go back N
        self._push(now)
        if self.rto_at is None and d(self.snd_nxt, self.snd_una):
            self.rto_at = now + self.rto

    # ------------------------------------------------------------ input
    def on_segment(self, seg, now):
        if self.state == CLOSED:
            return
        seglen = len(seg.data) + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
        wnd = self._wnd()
        # RFC 9293 3.10.7.4 acceptability test
        if seglen == 0:
            ok = seg.seq == self.rcv_nxt if wnd == 0 else (
                le(self.rcv_nxt, seg.seq) and lt(seg.seq, (self.rcv_nxt + wnd) & MASK))
        else:
            end = (seg.seq + seglen - 1) & MASK
            top = (self.rcv_nxt + wnd) & MASK
            ok = wnd > 0 and ((le(self.rcv_nxt, seg.seq) and lt(seg.seq, top)) or
                              (le(self.rcv_nxt, end) and lt(end, top)))
        if self.state == SYN_RCVD and seg.flags & SYN and not seg.flags & ACK:
            if seg.seq == self.irs:       # our SYN-ACK was lost: the client repeats its SYN
                self.c["tcp_dup"] += 1
                self._segment(now, SYN | ACK, self.iss, syn_mss=True)
            return
        if not ok:
            if seg.flags & RST:
                return
            if lt(seg.seq, self.rcv_nxt):
                self.c["tcp_dup"] += 1
            else:
                self.c["tcp_out_of_window"] += 1
            self._ack_now(now)
            return
        if seg.flags & RST:
            if seg.seq == self.rcv_nxt:
                self.c["tcp_rst_in"] += 1
                self._abort(now, "reset by peer", send_rst=False)
            else:
                self._ack_now(now)                     # challenge ACK (RFC 5961 3.2)
            return
        if seg.flags & SYN:
            self._ack_now(now)                         # challenge ACK (RFC 5961 4.2)
            return
        if not seg.flags & ACK:
            return
        if self.state == SYN_RCVD:
            if seg.ack == self.snd_nxt:
                self.state = ESTABLISHED
                self.snd_una = seg.ack
                self.snd_wnd = seg.wnd
                self.retries = 0
                self.rto_at = None
                self.rto = RTO_INIT if self.srtt == 0 else self.rto
                self.events.append(("connected", self.id))
            else:
                self.out.append(build(self.local, self.remote, self.lport, self.rport, seg.ack, 0, RST, 0))
                return
        else:
            self._on_ack(seg, now)
            if self.state == CLOSED:
                return
        if seg.data:
            self._on_data(seg, now)
        if seg.flags & FIN and ((seg.seq + len(seg.data)) & MASK) == self.rcv_nxt:
            self._on_fin(now)
        self._push(now)

    def _on_ack(self, seg, now):
        ack = seg.ack
        if lt(self.snd_nxt, ack):
            # beyond snd_nxt: fine after a go-back-N (the peer had it), never beyond what exists
            sent_max = (self.snd_una + len(self.sndbuf) + (1 if self.fin_seq is not None else 0)) & MASK
            if lt(sent_max, ack):
                self._ack_now(now)
                return
            self.snd_nxt = ack
        if lt(self.snd_una, ack):
            n = d(ack, self.snd_una)
            data_acked = n if n <= len(self.sndbuf) else len(self.sndbuf)
            self.sndbuf = self.sndbuf[data_acked:]
            self.snd_una = ack
            self.dupacks = 0
            self.retries = 0
            if self.rtt_seq is not None and le(self.rtt_seq, ack):
                self._rtt_sample(now - self.rtt_t)
                self.rtt_seq = None
            self.cwnd += self.mss if self.cwnd < 65535 else 0
            self.rto_at = now + self.rto if d(self.snd_nxt, self.snd_una) else None
            self.snd_wnd = seg.wnd
            if self.fin_seq is not None and lt(self.fin_seq, ack):
                self.fin_seq = None
                self.fin_queued = False
                self._fin_acked(now)
        elif ack == self.snd_una:
            if (not seg.data and not seg.flags & FIN and seg.wnd == self.snd_wnd
                    and d(self.snd_nxt, self.snd_una) > 0):
                self.dupacks += 1
                if self.dupacks == 3:                  # fast retransmit of the oldest segment
                    self.c["tcp_fast_retransmits"] += 1
                    n = len(self.sndbuf) if len(self.sndbuf) < self.mss else self.mss
                    if n:
                        self._segment(now, ACK, self.snd_una, bytes(self.sndbuf[0:n]))
                    self.cwnd = self.cwnd // 2 if self.cwnd // 2 > 2 * self.mss else 2 * self.mss
                    self.rtt_seq = None
            self.snd_wnd = seg.wnd
        else:
            self.c["tcp_old_ack"] += 1

    def _rtt_sample(self, r):
        if r < 1:
            r = 1
        if self.srtt == 0:
            self.srtt = r
            self.rttvar = r // 2
        else:
            e = self.srtt - r
            self.rttvar = (3 * self.rttvar + (e if e > 0 else -e)) // 4
            self.srtt = (7 * self.srtt + r) // 8
        rto = self.srtt + (4 * self.rttvar if 4 * self.rttvar > 10 else 10)
        self.rto = RTO_MIN if rto < RTO_MIN else (RTO_MAX if rto > RTO_MAX else rto)

    def _fin_acked(self, now):
        if self.state == FIN_WAIT_1:
            self.state = FIN_WAIT_2
        elif self.state == CLOSING:
            self._time_wait(now)
        elif self.state == LAST_ACK:
            self.state = CLOSED
            self.rto_at = None
            self._report_closed("closed")

    def _time_wait(self, now):
        self.state = TIME_WAIT
        self.rto_at = None
        self.tw_at = now + TIME_WAIT_MS
        self._report_closed("closed")

    def _on_data(self, seg, now):
        seq = seg.seq
        data = seg.data
        if lt(seq, self.rcv_nxt):                      # partly old: keep the new tail
            skip = d(self.rcv_nxt, seq)
            data = data[skip:]
            seq = self.rcv_nxt
            self.c["tcp_dup"] += 1
        wnd = self._wnd()
        if len(data) > wnd - d(seq, self.rcv_nxt):
            data = data[:max(0, wnd - d(seq, self.rcv_nxt))]
        if not data:
            self._ack_now(now)
            return
        if seq != self.rcv_nxt:
            self._store_ooo(seq, data)
            self._ack_now(now)                         # duplicate ACK tells the peer about the hole
            return
        self._deliver(data)
        while self.ooo and le(self.ooo[0][0], self.rcv_nxt):
            s, dta = self.ooo.pop(0)
            skip = d(self.rcv_nxt, s)
            if skip < len(dta):
                self._deliver(dta[skip:])
        self._ack_now(now)

    def _store_ooo(self, seq, data):
        self.c["tcp_ooo"] += 1
        for s, _x in self.ooo:
            if s == seq:
                return
        if len(self.ooo) >= OOO_MAX:
            self.c["tcp_ooo_dropped"] += 1
            return
        i = 0
        while i < len(self.ooo) and lt(self.ooo[i][0], seq):
            i += 1
        self.ooo.insert(i, (seq, data))

    def _deliver(self, data):
        if self.state in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2):
            self.events.append(("data", self.id, bytes(data)))
            self.rx_pending += len(data)
        self.rcv_nxt = (self.rcv_nxt + len(data)) & MASK

    def _on_fin(self, now):
        self.rcv_nxt = (self.rcv_nxt + 1) & MASK
        self._ack_now(now)
        if self.state == ESTABLISHED:
            self.state = CLOSE_WAIT
            self._report_closed("peer closed")
            self.close(now)                            # V2G has no half-close: our FIN follows
        elif self.state == FIN_WAIT_1:
            self.state = CLOSING
        elif self.state == FIN_WAIT_2:
            self._time_wait(now)

    def finished(self):
        return self.state == CLOSED
