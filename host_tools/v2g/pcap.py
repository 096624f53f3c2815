"""pcap and pcapng, Ethernet link type only: a reader that says exactly what
is wrong with a bad file, and a small pcap writer for the test rigs.

Formats: pcap (https://www.tcpdump.org/manpages/pcap-savefile.5.txt; magic
a1b2c3d4 microseconds / a1b23c4d nanoseconds, either byte order) and pcapng
(IETF draft-ietf-opsawg-pcapng: SHB 0x0A0D0D0A with byte-order magic
1a2b3c4d, IDB 1, EPB 6, SPB 3; if_tsresol option 9).
"""
import struct

LINKTYPE_ETHERNET = 1


class CaptureError(ValueError):
    pass


def read_capture(path):
    """[(time_s, frame_bytes)] of a pcap or pcapng file (Ethernet)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CaptureError("cannot read %s: %s" % (path, e.strerror or e))
    if len(data) < 4:
        raise CaptureError("%s: %d bytes, too short for a capture file" % (path, len(data)))
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        return _read_pcap(path, data)
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(path, data)
    raise CaptureError("%s: not a pcap or pcapng file (magic %s)" % (path, magic.hex()))


def _partial(err, frames):
    err.frames = frames          # what was read before the damage
    return err


def _read_pcap(path, data):
    if len(data) < 24:
        raise CaptureError("%s: truncated pcap header (%d of 24 bytes)" % (path, len(data)))
    le = data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    e = "<" if le else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    _maj, _min, _tz, _sig, _snap, linktype = struct.unpack(e + "HHiIII", data[4:24])
    if linktype & 0xFFFF != LINKTYPE_ETHERNET:
        raise CaptureError("%s: link type %d is not Ethernet" % (path, linktype & 0xFFFF))
    out = []
    off = 24
    n = 0
    while off < len(data):
        if off + 16 > len(data):
            raise _partial(CaptureError("%s: truncated record header of packet %d at byte %d" % (path, n + 1, off)), out)
        sec, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        if incl > 262144:
            raise _partial(CaptureError("%s: packet %d claims %d bytes (corrupt record)" % (path, n + 1, incl)), out)
        if off + 16 + incl > len(data):
            raise _partial(CaptureError("%s: packet %d truncated (%d of %d bytes)"
                                        % (path, n + 1, len(data) - off - 16, incl)), out)
        out.append((sec + frac / (1e9 if nano else 1e6), data[off + 16:off + 16 + incl]))
        off += 16 + incl
        n += 1
    return out


def _read_pcapng(path, data):
    out = []
    off = 0
    e = "<"
    ifaces = []          # (linktype, ticks per second)
    n = 0
    while off < len(data):
        if off + 12 > len(data):
            raise _partial(CaptureError("%s: truncated pcapng block at byte %d" % (path, off)), out)
        btype = struct.unpack(e + "I", data[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = data[off + 8:off + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                e = ">"
            else:
                raise CaptureError("%s: bad pcapng byte-order magic at byte %d" % (path, off))
            ifaces = []
        blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise _partial(CaptureError("%s: pcapng block at byte %d has length %d (truncated or corrupt)"
                                        % (path, off, blen)), out)
        body = data[off + 8:off + blen - 4]
        if btype == 1:                               # Interface Description Block
            linktype = struct.unpack(e + "H", body[0:2])[0]
            ifaces.append((linktype, _tsresol(body[8:], e)))
        elif btype == 6:                             # Enhanced Packet Block
            n += 1
            if len(body) < 20:
                raise CaptureError("%s: packet %d: short enhanced packet block" % (path, n))
            iface, th, tl, cap, _orig = struct.unpack(e + "IIIII", body[:20])
            if iface >= len(ifaces):
                raise CaptureError("%s: packet %d names interface %d, which is not described" % (path, n, iface))
            if 20 + cap > len(body):
                raise CaptureError("%s: packet %d truncated" % (path, n))
            lt, tps = ifaces[iface]
            if lt != LINKTYPE_ETHERNET:
                raise CaptureError("%s: interface %d link type %d is not Ethernet" % (path, iface, lt))
            out.append((((th << 32) | tl) / tps, body[20:20 + cap]))
        elif btype == 3:                             # Simple Packet Block
            n += 1
            if not ifaces:
                raise CaptureError("%s: simple packet before any interface block" % path)
            orig = struct.unpack(e + "I", body[0:4])[0]
            out.append((0.0, body[4:4 + orig]))
        off += blen
    return out


def _tsresol(opts, e):
    i = 0
    while i + 4 <= len(opts):
        code, ln = struct.unpack(e + "HH", opts[i:i + 4])
        if code == 0:
            break
        if code == 9 and ln >= 1:
            v = opts[i + 4]
            return float(2 ** (v & 0x7F)) if v & 0x80 else float(10 ** v)
        i += 4 + ((ln + 3) & ~3)
    return 1e6


class PcapWriter:
    """Classic pcap, Ethernet; microseconds, or nanoseconds with nano=True (write_ns)."""

    def __init__(self, path, nano=False):
        self.f = open(path, "wb")
        self.nano = nano
        self.f.write(struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144,
                                 LINKTYPE_ETHERNET))
        self.count = 0

    def write_ns(self, sec, nsec, frame):
        """A frame stamped sec + nsec (kernel SO_TIMESTAMPNS); nano writers only."""
        if not self.nano:
            raise ValueError("write_ns needs PcapWriter(nano=True)")
        self.f.write(struct.pack("<IIII", sec, nsec, len(frame), len(frame)) + bytes(frame))
        self.count += 1

    def flush(self):
        self.f.flush()

    def write(self, t, frame):
        sec = int(t)
        scale = 1000000000 if self.nano else 1000000
        usec = int(round((t - sec) * scale))
        if usec >= scale:
            sec, usec = sec + 1, usec - scale
        self.f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + bytes(frame))
        self.count += 1

    def close(self):
        self.f.close()


def write_pcap(path, frames):
    w = PcapWriter(path)
    for t, f in frames:
        w.write(t, f)
    w.close()
