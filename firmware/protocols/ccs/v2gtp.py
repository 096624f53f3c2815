"""V2G Transfer Protocol (V2GTP) framing. Sans-IO, MicroPython-compatible.

Every SDP and EXI payload travels behind an 8-byte header
(ISO 15118-2 §7.8.3, DIN SPEC 70121 §8.7.3, ISO 15118-20 §7.8.3):

    byte 0     protocol version          0x01
    byte 1     inverse protocol version  0xFE
    bytes 2-3  payload type              big-endian
    bytes 4-7  payload length            big-endian, bytes after the header

Payload types (reference sheet ccs-nacs-dc-handshake.md §4):
    0x8001 EXI (DIN, ISO-2; SupportedAppProtocol in ISO-20)
    0x8002 ISO-20 main stream, 0x8003 AC, 0x8004 DC, 0x8005 ACDP, 0x8006 WPT
    0x8101 ISO-20 schedule renegotiation, 0x8102 metering confirmation,
    0x8103 ACDP system status
    0x9000 / 0x9001 SDP request / response
    0xA000-0xFFFF manufacturer specific

A TCP stream may split one message over several segments or carry several
messages in one segment; `Deframer` reassembles them. A header with a wrong
version byte, a wrong inverse byte, an unknown payload type or a length above
the configured maximum raises V2GTPError: the standard's answer to a bad
header on TCP is to close the connection (header processing rules of
ISO 15118-2 §7.8.3 and DIN SPEC 70121 §8.7.3; requirement IDs not transcribed
in the team's reference sheet), which the SECC does on that error; a bad SDP
datagram is dropped.
"""
from micropython import const

HEADER_LEN = const(8)
VERSION = const(0x01)
INVERSE_VERSION = const(0xFE)

EXI = const(0x8001)              # DIN / ISO-2 messages, SupportedAppProtocol
ISO20_MAIN = const(0x8002)
ISO20_AC = const(0x8003)
ISO20_DC = const(0x8004)
ISO20_ACDP = const(0x8005)
ISO20_WPT = const(0x8006)
ISO20_SCHEDULE_RENEGOTIATION = const(0x8101)
ISO20_METERING_CONFIRMATION = const(0x8102)
ISO20_ACDP_SYSTEM_STATUS = const(0x8103)
SDP_REQUEST = const(0x9000)
SDP_RESPONSE = const(0x9001)
MANUFACTURER_FIRST = const(0xA000)

KNOWN_TYPES = (EXI, ISO20_MAIN, ISO20_AC, ISO20_DC, ISO20_ACDP, ISO20_WPT,
               ISO20_SCHEDULE_RENEGOTIATION, ISO20_METERING_CONFIRMATION, ISO20_ACDP_SYSTEM_STATUS,
               SDP_REQUEST, SDP_RESPONSE)

# Largest message the box accepts. A DIN/ISO-2 request without certificates is a few
# hundred bytes; ISO-2 CertificateInstallation can carry several kB of certificates.
DEFAULT_MAX_PAYLOAD = const(8192)


class V2GTPError(ValueError):
    pass


def known_type(ptype):
    return ptype in KNOWN_TYPES or MANUFACTURER_FIRST <= ptype <= 0xFFFF


def header(ptype, length):
    """The 8 header bytes for a payload of `length` bytes."""
    if not 0 <= ptype <= 0xFFFF:
        raise V2GTPError("payload type out of range")
    if not 0 <= length <= 0xFFFFFFFF:
        raise V2GTPError("payload length out of range")
    return bytes((VERSION, INVERSE_VERSION, ptype >> 8, ptype & 0xFF,
                  (length >> 24) & 0xFF, (length >> 16) & 0xFF, (length >> 8) & 0xFF, length & 0xFF))


def frame(ptype, payload):
    """Header + payload."""
    return header(ptype, len(payload)) + bytes(payload)


def parse_header(buf, off=0, max_payload=DEFAULT_MAX_PAYLOAD):
    """(payload type, payload length) of the header at buf[off:off+8]. Raises V2GTPError."""
    if len(buf) - off < HEADER_LEN:
        raise V2GTPError("short V2GTP header")
    if buf[off] != VERSION:
        raise V2GTPError("V2GTP protocol version 0x%02x, expected 0x01" % buf[off])
    if buf[off + 1] != INVERSE_VERSION:
        raise V2GTPError("V2GTP inverse protocol version 0x%02x, expected 0xFE" % buf[off + 1])
    ptype = (buf[off + 2] << 8) | buf[off + 3]
    if not known_type(ptype):
        raise V2GTPError("unknown V2GTP payload type 0x%04x" % ptype)
    n = (buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]
    if n > max_payload:
        raise V2GTPError("V2GTP payload length %d above the maximum %d" % (n, max_payload))
    return ptype, n


def unframe(datagram, max_payload=DEFAULT_MAX_PAYLOAD):
    """One complete message (a UDP datagram): (payload type, payload). Raises V2GTPError
    if the header is bad or the length does not match the datagram exactly."""
    ptype, n = parse_header(datagram, 0, max_payload)
    if len(datagram) != HEADER_LEN + n:
        raise V2GTPError("V2GTP length %d does not match the %d payload bytes received"
                         % (n, len(datagram) - HEADER_LEN))
    return ptype, bytes(datagram[HEADER_LEN:])


class Deframer:
    """Reassembles V2GTP messages from a TCP byte stream.

        d = Deframer()
        d.feed(segment)
        msg = d.next()      # (payload type, payload bytes) or None (need more bytes)

    After a V2GTPError the deframer is poisoned (`error` set): every later call
    raises again; the connection must be closed.
    """

    def __init__(self, max_payload=DEFAULT_MAX_PAYLOAD):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.error = None

    def feed(self, data):
        if self.error is not None:
            raise V2GTPError(self.error)
        self.buf.extend(data)
        # fail early on any bad header in the buffer, even before its payload is complete
        off = 0
        while len(self.buf) - off >= HEADER_LEN:
            off += HEADER_LEN + self._check(off)[1]

    def _check(self, off=0):
        try:
            return parse_header(self.buf, off, self.max_payload)
        except V2GTPError as e:
            self.error = str(e)
            raise

    def next(self):
        if self.error is not None:
            raise V2GTPError(self.error)
        buf = self.buf
        if len(buf) < HEADER_LEN:
            return None
        ptype, n = self._check()
        end = HEADER_LEN + n
        if len(buf) < end:
            return None
        payload = bytes(buf[HEADER_LEN:end])
        self.buf = buf[end:]
        return ptype, payload

    def pending(self):
        """Bytes buffered that do not yet form a whole message."""
        return len(self.buf)
