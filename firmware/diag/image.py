"""Firmware image format (shared by the device and `v2xbox build-image`).

    header (HEADER_SIZE bytes, little-endian)
      0  magic "V2XI"
      4  u16 format version (FORMAT_VERSION)
      6  u16 header size
      8  u32 firmware version  (major << 24 | minor << 16 | patch)
     12  u32 security counter  (anti-rollback: refused if below the device's counter)
     16  u32 payload size
     20  u32 flags (0)
     24  16s target board (ASCII, NUL padded)
     40  32s SHA-256 of the payload
     72  reserved (zero) up to HEADER_SIZE
    payload: the firmware's .mpy modules, packed (see below)
    signature: 64-byte Ed25519 signature of the header (which carries the payload hash)

Payload pack: "VXPK" | u16 count | per module: u8 name length | name (UTF-8
path, e.g. "firmware/main.mpy") | u32 size | bytes.

Signing the header (not the whole image) keeps the device's pure-Python
SHA-512 to two blocks; the payload is bound by its SHA-256 (hashlib, in C).
"""
import struct

from micropython import const

MAGIC = b"V2XI"
PACK_MAGIC = b"VXPK"
FORMAT_VERSION = const(1)
HEADER_SIZE = const(128)
SIGNATURE_SIZE = const(64)
BOARD = "V2XBOX-MC1"          # the main controller board this firmware targets
_FMT = "<4sHHIIII16s32s"       # 72 bytes, rest reserved

# parse results
OK = const(0)
E_MAGIC = const(1)             # not an image / unknown format version
E_BOARD = const(2)             # built for another board
E_SIZE = const(3)              # size fields inconsistent or larger than the slot
E_HASH = const(4)              # payload does not match the header's SHA-256
E_SIGNATURE = const(5)         # signature does not verify with the trusted key
E_DOWNGRADE = const(6)         # security counter below the device's anti-rollback counter
E_INCOMPLETE = const(7)        # fewer bytes transferred than the header announces
E_PAYLOAD = const(8)           # payload pack malformed or missing required modules

RESULT_NAMES = ("ok", "not a v2xbox image", "wrong target board", "bad size", "hash mismatch",
                "bad signature", "downgrade refused", "incomplete transfer", "bad payload")


def version_int(major, minor, patch):
    return (major << 24) | (minor << 16) | patch


def version_str(v):
    return "%d.%d.%d" % (v >> 24, (v >> 16) & 0xFF, v & 0xFFFF)


class Header:
    def __init__(self):
        self.format = 0
        self.version = 0
        self.counter = 0
        self.size = 0
        self.flags = 0
        self.board = ""
        self.sha256 = b""
        self.raw = b""

    def total(self):
        return HEADER_SIZE + self.size + SIGNATURE_SIZE


def pack_header(version, counter, payload_size, board, sha, flags=0):
    b = board.encode()
    if len(b) > 16:
        raise ValueError("board name longer than 16 bytes")
    h = struct.pack(_FMT, MAGIC, FORMAT_VERSION, HEADER_SIZE, version, counter, payload_size, flags,
                    b, sha)
    return h + bytes(HEADER_SIZE - len(h))


def parse_header(raw, capacity=None):
    """(result, Header or None). Checks what the header alone can tell."""
    if len(raw) < HEADER_SIZE:
        return E_MAGIC, None
    magic, fmt, hsize, ver, ctr, size, flags, board, sha = struct.unpack_from(_FMT, raw, 0)
    if magic != MAGIC or fmt != FORMAT_VERSION or hsize != HEADER_SIZE:
        return E_MAGIC, None
    h = Header()
    h.format = fmt
    h.version = ver
    h.counter = ctr
    h.size = size
    h.flags = flags
    n = 0
    while n < 16 and board[n] != 0:
        n += 1
    try:
        h.board = bytes(board[:n]).decode()
    except Exception:
        return E_BOARD, None
    h.sha256 = bytes(sha)
    h.raw = bytes(raw[:HEADER_SIZE])
    if size == 0 or (capacity is not None and h.total() > capacity):
        return E_SIZE, h
    return OK, h


def pack_payload(modules):
    """modules: list of (name, bytes) -> payload bytes (host side)."""
    out = [PACK_MAGIC, struct.pack("<H", len(modules))]
    for name, data in modules:
        nb = name.encode()
        if not 0 < len(nb) < 256:
            raise ValueError("bad module name %r" % name)
        out.append(struct.pack("<B", len(nb)) + nb + struct.pack("<I", len(data)))
        out.append(bytes(data))
    return b"".join(out)


def payload_index(read, size):
    """Walk a payload through read(offset, n) -> bytes; returns a list of
    (name, offset, size) or None if malformed."""
    if size < 6 or read(0, 4) != PACK_MAGIC:
        return None
    count = struct.unpack("<H", read(4, 2))[0]
    pos = 6
    out = []
    for _ in range(count):
        if pos + 1 > size:
            return None
        ln = read(pos, 1)[0]
        if pos + 1 + ln + 4 > size:
            return None
        try:
            name = bytes(read(pos + 1, ln)).decode()
        except Exception:
            return None
        sz = struct.unpack("<I", read(pos + 1 + ln, 4))[0]
        pos += 1 + ln + 4
        if pos + sz > size:
            return None
        out.append((name, pos, sz))
        pos += sz
    if pos != size:
        return None
    return out
