"""QCA7000 / QCA7005 HomePlug Green PHY modem over SPI: framing and driver.

Facts (register map, command word, frame format) as the Linux qcaspi driver
documents them (drivers/net/ethernet/qualcomm/qca_7k.h, qca_7k_common.h):

- 16-bit command word: bit 15 read (1) / write (0), bit 14 internal register
  (1) / external buffer (0), low bits the register address.
- Registers: BFR_SIZE 0x0100 (length of the next external transfer),
  WRBUF_SPC_AVA 0x0200 (free bytes in the modem's write buffer),
  RDBUF_BYTE_AVA 0x0300 (bytes waiting for us), SPI_CONFIG 0x0400,
  INTR_CAUSE 0x0C00, INTR_ENABLE 0x0D00, SIGNATURE 0x1A00 (reads 0xAA55).
- Interrupt causes: PKT_AVLBL bit 0, RDBUF_ERR bit 1, WRBUF_ERR bit 2,
  ADDR_ERR bit 3, CPU_ON bit 6 (the modem (re)booted), WRBUF_BELOW_WM bit 10.
- Host -> modem frame: SOF AA AA AA AA, FL (16-bit little-endian), 2 reserved
  bytes, the Ethernet frame (>= 60 bytes), EOF 55 55.
- Modem -> host: each frame additionally led by a 4-byte little-endian length.

`encode(frame)` frames one Ethernet frame; `RxDecoder` turns the read-buffer
byte stream back into frames, resynchronising on SOF after garbage and
counting every bad frame; `Qca7000` is the driver: it talks to a `bus`
(`xfer(tx_bytes, rx_len) -> bytes` with chip select around one transfer),
services interrupts in `service()`, and offers the HAL FrameLink
(`send`, `recv`) with bounded queues. It holds no pins itself, so the
board passes a machine.SPI adapter and the sim a chip model.
"""
from micropython import const

from firmware.hal import interface as hi

READ = const(0x8000)
INTERNAL = const(0x4000)

REG_BFR_SIZE = const(0x0100)
REG_WRBUF_SPC_AVA = const(0x0200)
REG_RDBUF_BYTE_AVA = const(0x0300)
REG_SPI_CONFIG = const(0x0400)
REG_INTR_CAUSE = const(0x0C00)
REG_INTR_ENABLE = const(0x0D00)
REG_SIGNATURE = const(0x1A00)
SIGNATURE = const(0xAA55)

INT_PKT_AVLBL = const(0x0001)
INT_RDBUF_ERR = const(0x0002)
INT_WRBUF_ERR = const(0x0004)
INT_ADDR_ERR = const(0x0008)
INT_CPU_ON = const(0x0040)
INT_WRBUF_BELOW_WM = const(0x0400)
INT_ENABLED = const(INT_PKT_AVLBL | INT_RDBUF_ERR | INT_WRBUF_ERR | INT_CPU_ON)

ETH_MIN = const(60)
ETH_MAX = const(1522)
HW_OVERHEAD = const(10)          # SOF 4 + FL 2 + RSVD 2 + EOF 2
RX_LEN_PREFIX = const(4)
BUF_SIZE = const(3163)           # the modem's buffer size (qca_7k_common.h QCASPI_HW_BUF_LEN)

SOF = b"\xaa\xaa\xaa\xaa"
EOF = b"\x55\x55"


def encode(frame):
    n = len(frame)
    if n > ETH_MAX:
        raise ValueError("frame too long for the modem")
    pad = ETH_MIN - n if n < ETH_MIN else 0
    b = bytearray(HW_OVERHEAD + n + pad)
    b[0:4] = SOF
    b[4] = (n + pad) & 0xFF
    b[5] = (n + pad) >> 8
    b[8:8 + n] = frame
    b[8 + n + pad:] = EOF
    return b


class RxDecoder:
    """Byte stream of the modem's read buffer -> Ethernet frames.

    Layout per frame: LEN(4, LE) SOF(4) FL(2, LE) RSVD(2) frame EOF(2). A
    frame whose markers or lengths do not fit is dropped and counted; the
    decoder then searches the next SOF (the length prefix is 4 bytes
    before it)."""

    def __init__(self):
        self.buf = bytearray()
        self.errors = 0
        self.frames = 0

    def feed(self, data):
        b = self.buf
        b.extend(data)
        out = []
        i = 0
        n = len(b)
        while n - i >= RX_LEN_PREFIX + 8:
            if b[i + 4:i + 8] != SOF:
                self.errors += 1
                j = b.find(SOF, i + 5)
                if j < 0:
                    i = n - 7 if n - 7 > i else i     # a prefix + SOF may straddle the next read
                    break
                i = j - RX_LEN_PREFIX
                continue
            total = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)
            fl = b[i + 8] | (b[i + 9] << 8)
            if fl < ETH_MIN or fl > ETH_MAX or total != fl + HW_OVERHEAD:
                self.errors += 1
                i += 8
                continue
            end = i + RX_LEN_PREFIX + HW_OVERHEAD + fl
            if n < end:
                break
            if b[end - 2:end] != EOF:
                self.errors += 1
                i += 8
                continue
            out.append(bytes(b[i + 12:i + 12 + fl]))
            self.frames += 1
            i = end
        rest = b[i:]
        if len(rest) > 2 * BUF_SIZE:                   # bounded: never grow without limit
            self.errors += 1
            rest = bytearray()
        self.buf = bytearray(rest)
        return out


class Qca7000(hi.FrameLink):
    def __init__(self, bus, rx_max=16, tx_max=16):
        self.bus = bus
        self.dec = RxDecoder()
        self.rx = []
        self.tx = []
        self.rx_max = rx_max
        self.tx_max = tx_max
        self.ready = False
        self.resets = 0
        self.counters = {"rx": 0, "tx": 0, "rx_dropped": 0, "tx_dropped": 0, "wrbuf_err": 0,
                         "rdbuf_err": 0, "addr_err": 0, "bad_signature": 0, "tx_wait": 0}

    # ---------------------------------------------------------------- registers
    def read_reg(self, reg):
        c = READ | INTERNAL | reg
        r = self.bus.xfer(bytes((c >> 8, c & 0xFF)), 2)
        return (r[0] << 8) | r[1]

    def write_reg(self, reg, value):
        c = INTERNAL | reg
        self.bus.xfer(bytes((c >> 8, c & 0xFF, value >> 8, value & 0xFF)), 0)

    # ---------------------------------------------------------------- driver
    def start(self):
        """Check the modem is there (signature; the first read after power-up
        may be garbage, so it is read twice) and enable its interrupts."""
        self.read_reg(REG_SIGNATURE)
        if self.read_reg(REG_SIGNATURE) != SIGNATURE:
            self.counters["bad_signature"] += 1
            self.ready = False
            return False
        self.write_reg(REG_INTR_ENABLE, INT_ENABLED)
        self.ready = True
        return True

    def service(self):
        """Run on the modem's interrupt line (or polled): handle the causes,
        read all waiting frames, write queued frames while there is room."""
        if not self.ready and not self.start():
            return
        self.write_reg(REG_INTR_ENABLE, 0)                 # mask while servicing (as qcaspi does)
        cause = self.read_reg(REG_INTR_CAUSE)
        if cause & INT_CPU_ON:
            self.resets += 1                               # the modem rebooted: state is gone
            self.dec = RxDecoder()
        if cause & INT_WRBUF_ERR:
            self.counters["wrbuf_err"] += 1
        if cause & INT_RDBUF_ERR:
            self.counters["rdbuf_err"] += 1
        if cause & INT_ADDR_ERR:
            self.counters["addr_err"] += 1
        if cause:
            self.write_reg(REG_INTR_CAUSE, cause)          # acknowledge
        self._read_all()
        self._write_queued()
        self.write_reg(REG_INTR_ENABLE, INT_ENABLED)

    def _read_all(self):
        avail = self.read_reg(REG_RDBUF_BYTE_AVA)
        if avail == 0:
            return
        if avail > BUF_SIZE:
            self.counters["rdbuf_err"] += 1
            avail = BUF_SIZE
        self.write_reg(REG_BFR_SIZE, avail)
        data = self.bus.xfer(bytes((READ >> 8, 0)), avail)   # external read
        for f in self.dec.feed(data):
            if len(self.rx) >= self.rx_max:
                self.counters["rx_dropped"] += 1
                continue
            self.rx.append(f)
            self.counters["rx"] += 1

    def _write_queued(self):
        while self.tx:
            framed = self.tx[0]
            if self.read_reg(REG_WRBUF_SPC_AVA) < len(framed):
                self.counters["tx_wait"] += 1              # modem busy: next interrupt / poll
                return
            self.write_reg(REG_BFR_SIZE, len(framed))
            self.bus.xfer(b"\x00\x00" + bytes(framed), 0)  # external write
            self.tx.pop(0)
            self.counters["tx"] += 1

    # ---------------------------------------------------------------- FrameLink
    def send(self, frame):
        if len(self.tx) >= self.tx_max:
            self.counters["tx_dropped"] += 1
            return False
        self.tx.append(encode(frame))
        if self.ready:
            self._write_queued()
        return True

    def recv(self):
        if not self.rx:
            return None
        return self.rx.pop(0)
