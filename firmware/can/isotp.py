"""ISO-TP (ISO 15765-2) for one physical address pair, sans-IO.

The owner moves CAN payloads in and out; this core never touches a port or
a clock:

    tp = IsoTp(fd=False)
    tp.receive(frame_payload, now_ms)   # every frame on the RX id
    msg = tp.recv()                     # a complete message or None
    tp.send(b"...", now_ms)             # queue one message (one at a time)
    for f in tp.to_send(now_ms): port.send(TX_ID, f)
    tp.next_timer() / tp.handle_timer(now_ms)

Frames (ISO 15765-2:2016 s9.6): SF 0x0L (classic, L <= 7) or 0x00 LL (CAN FD,
escape, L <= 62); FF 0x1L LL (L <= 4095) or 0x10 00 + u32 (escape, L > 4095);
CF 0x2N; FC 0x3S BS STmin (S: 0 CTS, 1 WAIT, 2 OVFLW).

Flow control this box advertises as a receiver (the MCU side):
  * BS = RX_BLOCK_SIZE = 64. The STM32 bxCAN/FDCAN keeps only a 3-frame
    hardware RX FIFO (162-372 us of slack at 1 Mbit/s, reference
    can-tooling-flashing.md s1) and MicroPython's machine.CAN has no
    software ring. The board backend drains the FIFO from the RX interrupt
    into a preallocated software ring of 128 frames (2 KiB); a block is at
    most 64 CFs, half the ring, so a whole block fits even if the main loop
    does not run for its duration (64 classic frames = 15 ms at 500 kbit/s,
    7.5 ms at 1 Mbit/s; a gc.collect() took 253 us, a log line ~5 ms) and the
    other service-CAN traffic (heartbeat, status) still has room. A finite
    BS (not 0) bounds what a tester that ignores the FIFO can push in one burst.
  * STmin = 0: the per-frame cost in the interrupt is one copy into the
    ring, far below the ~230 us a classic 8-byte frame lasts at 500 kbit/s;
    the CF handling itself runs in the main loop from the ring (its cost:
    `make bench`, uds.request_us.*). A non-zero STmin would cap the bus at
    5.7 kB/s (1 ms) or 21 kB/s (100 us) on classic CAN.
  Chosen against the bench (flash.ratio_vs_isotp_ceiling): with a 1 ms
  main loop and a tester that reacts in 1 ms, BS = 32 reached 0.81 of the
  ISO-TP ceiling at 500 kbit/s, BS = 64 reaches the figure in bench.json.

As a sender this core honours the peer's BS/STmin (STmin is returned as the
earliest time of the next CF; sub-millisecond values 0xF1-0xF9 round up to
1 ms here because the core keeps milliseconds).

Padding: frames are padded to 8 bytes (classic) or the next CAN FD DLC
length with 0xCC (0x00/0xFF fill costs ~13 % more stuff bits, reference s1).
"""
from micropython import const

PCI_SF = const(0)
PCI_FF = const(1)
PCI_CF = const(2)
PCI_FC = const(3)

FC_CTS = const(0)
FC_WAIT = const(1)
FC_OVFLW = const(2)

RX_BLOCK_SIZE = const(64)
RX_STMIN = const(0)
PAD = const(0xCC)

# N_Bs / N_Cr (ISO 15765-2 Table 16: 1000 ms performance requirement)
N_BS_MS = const(1000)
N_CR_MS = const(1000)
MAX_WFT = const(8)               # FC WAIT frames accepted in a row

# results of receive() for the owner's diagnostics
RECV_OK = const(0)
RECV_IGNORED = const(1)
RECV_ERROR = const(2)

_FD_LENGTHS = (8, 12, 16, 20, 24, 32, 48, 64)


def fd_len(n):
    """Smallest CAN FD frame length that holds n bytes."""
    for x in _FD_LENGTHS:
        if n <= x:
            return x
    raise ValueError("CAN FD frame longer than 64 bytes")


def stmin_ms(b):
    """STmin byte -> milliseconds (sub-ms values round up to 1, reserved -> 127)."""
    if b <= 0x7F:
        return b
    if 0xF1 <= b <= 0xF9:
        return 1
    return 0x7F


class IsoTp:
    def __init__(self, fd=False, max_rx=4095 + 16, block_size=RX_BLOCK_SIZE, stmin=RX_STMIN,
                 frame_len=None, pad=PAD):
        self.fd = fd
        self.frame_len = frame_len or (64 if fd else 8)   # TX_DL
        self.max_rx = max_rx
        self.block_size = block_size
        self.stmin = stmin
        self.pad = pad
        self._out = []
        # receiver state
        self._rx_buf = None
        self._rx_len = 0
        self._rx_pos = 0
        self._rx_sn = 0
        self._rx_bs_left = 0
        self._rx_frame_n = 8
        self._rx_deadline = None
        self._done = []
        # sender state
        self._tx = None
        self._tx_pos = 0
        self._tx_sn = 0
        self._tx_bs = 0
        self._tx_bs_left = 0
        self._tx_st = 0
        self._tx_next = 0
        self._tx_wait_fc = False
        self._tx_deadline = None
        self._wft = 0
        self.errors = 0
        self.last_error = ""

    # ------------------------------------------------------------ helpers
    def _frame(self, head, data, start, n):
        """PCI bytes + data[start:start+n], padded."""
        ln = len(head) + n
        if self.fd and ln > 8:
            total = fd_len(ln)
        else:
            total = 8 if self.pad is not None else ln
        f = bytearray(total)
        f[0:len(head)] = head
        f[len(head):ln] = data[start:start + n]
        if self.pad is not None:
            for i in range(ln, total):
                f[i] = self.pad
        return f

    def _err(self, why):
        self.errors += 1
        self.last_error = why
        return RECV_ERROR

    def _fc(self, status, bs=0, st=0):
        f = bytearray(8 if self.pad is not None else 3)
        f[0] = 0x30 | status
        f[1] = bs
        f[2] = st
        for i in range(3, len(f)):
            f[i] = self.pad
        self._out.append(f)

    # ------------------------------------------------------------ receive
    def receive(self, data, now):
        n = len(data)
        if n == 0:
            return RECV_IGNORED
        if n > 8 and not self.fd:
            return self._err("CAN FD frame on a classic channel")
        pci = data[0] >> 4
        if pci == PCI_FC:
            return self._on_fc(data, now)
        if pci == PCI_SF:
            ln = data[0] & 0x0F
            off = 1
            if ln == 0:
                if n <= 8 or n < 2:
                    return self._err("SF with zero length")
                ln = data[1]       # CAN FD escape (ISO 15765-2 Table 10)
                off = 2
                if ln < 8 - 1 or ln > n - 2:
                    return self._err("bad CAN FD SF length")
            elif n > 8:
                return self._err("SF_DL 1-7 in a frame longer than 8 bytes")
            if ln > n - off:
                return self._err("SF longer than its frame")
            if self._rx_buf is not None:
                self._rx_buf = None   # a new message aborts a reception in progress (s9.8.3)
            self._done.append(bytes(data[off:off + ln]))
            return RECV_OK
        if pci == PCI_FF:
            if n < 8:
                return self._err("FF shorter than 8 bytes")
            ln = ((data[0] & 0x0F) << 8) | data[1]
            off = 2
            if ln == 0:
                if n < 6:
                    return self._err("short FF escape")
                ln = (data[2] << 24) | (data[3] << 16) | (data[4] << 8) | data[5]
                off = 6
                if ln <= 4095:
                    return self._err("FF escape for a short message")
            min_ff = (n - 1) if n <= 8 else (n - 2)
            if ln <= min_ff:
                return self._err("FF_DL fits a single frame")
            if ln > self.max_rx:
                self._fc(FC_OVFLW)
                self._rx_buf = None
                return self._err("message of %d bytes exceeds the receive buffer" % ln)
            self._rx_buf = bytearray(ln)
            self._rx_len = ln
            k = n - off
            self._rx_buf[0:k] = data[off:n]
            self._rx_pos = k
            self._rx_sn = 1
            self._rx_frame_n = n
            self._rx_bs_left = self.block_size
            self._fc(FC_CTS, self.block_size, self.stmin)
            self._rx_deadline = now + N_CR_MS
            return RECV_OK
        if pci == PCI_CF:
            if self._rx_buf is None:
                return RECV_IGNORED          # unexpected CF: ignored (s9.8.3)
            sn = data[0] & 0x0F
            if sn != self._rx_sn:
                self._rx_buf = None
                self._rx_deadline = None
                return self._err("wrong sequence number %d, expected %d" % (sn, self._rx_sn))
            left = self._rx_len - self._rx_pos
            k = n - 1
            if k > left:
                k = left
            elif n != self._rx_frame_n and k < left:
                self._rx_buf = None
                self._rx_deadline = None
                return self._err("CF shorter than the FF")
            self._rx_buf[self._rx_pos:self._rx_pos + k] = data[1:1 + k]
            self._rx_pos += k
            self._rx_sn = (self._rx_sn + 1) & 0x0F
            if self._rx_pos >= self._rx_len:
                self._done.append(bytes(self._rx_buf))
                self._rx_buf = None
                self._rx_deadline = None
                return RECV_OK
            if self.block_size:
                self._rx_bs_left -= 1
                if self._rx_bs_left == 0:
                    self._rx_bs_left = self.block_size
                    self._fc(FC_CTS, self.block_size, self.stmin)
            self._rx_deadline = now + N_CR_MS
            return RECV_OK
        return RECV_IGNORED

    def _on_fc(self, data, now):
        if self._tx is None or not self._tx_wait_fc:
            return RECV_IGNORED
        if len(data) < 3:
            return self._err("short FC")
        fs = data[0] & 0x0F
        if fs == FC_CTS:
            self._tx_wait_fc = False
            self._wft = 0
            self._tx_bs = data[1]
            self._tx_bs_left = data[1]
            self._tx_st = stmin_ms(data[2])
            self._tx_next = now
            self._tx_deadline = None
            return RECV_OK
        if fs == FC_WAIT:
            self._wft += 1
            if self._wft > MAX_WFT:
                self._tx = None
                return self._err("too many FC WAIT")
            self._tx_deadline = now + N_BS_MS
            return RECV_OK
        self._tx = None
        self._tx_deadline = None
        if fs == FC_OVFLW:
            return self._err("receiver overflow")
        return self._err("invalid flow status")

    def recv(self):
        if self._done:
            return self._done.pop(0)
        return None

    def receiving(self):
        return self._rx_buf is not None

    # ------------------------------------------------------------ send
    def busy(self):
        return self._tx is not None

    def send(self, payload, now):
        """Queue one message. Returns False if one is still being sent."""
        if self._tx is not None:
            return False
        n = len(payload)
        fl = self.frame_len
        sf_max = fl - 2 if fl > 8 else 7
        if n <= sf_max:
            if n <= 7:
                self._out.append(self._frame(bytes((n,)), payload, 0, n))
            else:
                self._out.append(self._frame(bytes((0, n)), payload, 0, n))
            return True
        if n <= 4095:
            head = bytes((0x10 | (n >> 8), n & 0xFF))
        else:
            head = bytes((0x10, 0, (n >> 24) & 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
        k = fl - len(head)
        self._out.append(self._frame(head, payload, 0, k))
        self._tx = payload
        self._tx_pos = k
        self._tx_sn = 1
        self._tx_wait_fc = True
        self._tx_deadline = now + N_BS_MS
        return True

    def to_send(self, now, limit=255):
        """Frames due now (FCs first, then CFs the peer allowed), at most
        `limit` CFs per call (the board has 3 TX mailboxes: the owner asks
        again when they have drained)."""
        out = self._out
        self._out = []
        tx = self._tx
        while tx is not None and not self._tx_wait_fc and now >= self._tx_next and len(out) < limit:
            k = self.frame_len - 1
            left = len(tx) - self._tx_pos
            if k > left:
                k = left
            out.append(self._frame(bytes((0x20 | self._tx_sn,)), tx, self._tx_pos, k))
            self._tx_pos += k
            self._tx_sn = (self._tx_sn + 1) & 0x0F
            if self._tx_pos >= len(tx):
                self._tx = None
                break
            if self._tx_bs:
                self._tx_bs_left -= 1
                if self._tx_bs_left == 0:
                    self._tx_wait_fc = True
                    self._tx_deadline = now + N_BS_MS
                    break
            if self._tx_st:
                self._tx_next = now + self._tx_st
                break
        return out

    # ------------------------------------------------------------ timers
    def next_timer(self):
        t = None
        for d in (self._rx_deadline, self._tx_deadline):
            if d is not None and (t is None or d < t):
                t = d
        if self._tx is not None and not self._tx_wait_fc:
            if t is None or self._tx_next < t:
                t = self._tx_next
        return t

    def handle_timer(self, now):
        if self._rx_deadline is not None and now >= self._rx_deadline:
            self._rx_buf = None
            self._rx_deadline = None
            self._err("N_Cr timeout")
        if self._tx_deadline is not None and now >= self._tx_deadline:
            self._tx = None
            self._tx_deadline = None
            self._err("N_Bs timeout")
