"""Power-loss-safe record journal on NOR flash (via the hal `Flash` contract).

Layout: a partition of n >= 2 sectors. Each sector starts with a header

    magic "VXJ1" | sector sequence (u32) | crc32 of the preceding 8 bytes

followed by records

    0xA5 | type (u8) | length (u16) | record sequence (u32) | payload | crc32

(little-endian; the CRC covers everything before it). Writes only append
into erased (0xFF) space, so a power cut can only damage the record being
written. A sector's first records are a *snapshot* of the live state,
closed by a SNAPSHOT_END record; only then does the sector count.

Mount: the newest sector (highest sequence) whose snapshot is complete is
the active one; its records are replayed in order up to the first invalid
one. Anything after that (a torn write) makes the sector "dirty": the next
append compacts into the next sector first, so nothing is ever written
behind damaged bytes.

Compaction: erase the oldest sector, write its header, ask the owner for a
snapshot of the live state (`snapshot()` -> records), write SNAPSHOT_END.
Until SNAPSHOT_END lands the previous sector stays authoritative, so a tear
during compaction loses nothing. (An erase that is itself cut short leaves
a sector that fails its header CRC; SimFlash models programming tears only.)
"""
import struct

from micropython import const

from firmware.safety.crc import crc32

_MAGIC = b"VXJ1"
_SECTOR_HDR = const(12)
_REC_MAGIC = const(0xA5)
_REC_HDR = const(8)
_REC_CRC = const(4)
T_SNAPSHOT_END = const(0xFE)
MAX_PAYLOAD = const(1024)


class JournalFull(Exception):
    """The live state does not fit in one sector."""


class Journal:
    def __init__(self, flash, first_sector, n_sectors):
        if n_sectors < 2:
            raise ValueError("journal needs at least 2 sectors")
        self.flash = flash
        self.first = first_sector
        self.n = n_sectors
        self.ss = flash.sector_size
        self.active = -1      # index within the partition
        self.sector_seq = 0
        self.seq = 0          # last record sequence number
        self.write_pos = 0    # offset inside the active sector
        self.dirty = False
        self.compactions = 0

    # ------------------------------------------------------------ layout helpers
    def _base(self, idx):
        return (self.first + idx) * self.ss

    def _read_sector_header(self, idx):
        h = self.flash.read(self._base(idx), _SECTOR_HDR)
        if h[0:4] != _MAGIC:
            return -1
        if struct.unpack_from("<I", h, 8)[0] != crc32(h, 0, 0, 8):
            return -1
        return struct.unpack_from("<I", h, 4)[0]

    def _scan(self, idx, sink):
        """Walk records of sector idx. Calls sink(type, seq, payload) for each
        valid one (sink may be None). Returns (end_offset, snapshot_complete,
        clean_tail, last_seq)."""
        base = self._base(idx)
        pos = _SECTOR_HDR
        snap_done = False
        last_seq = -1
        fl = self.flash
        while pos + _REC_HDR + _REC_CRC <= self.ss:
            hdr = fl.read(base + pos, _REC_HDR)
            if hdr[0] == 0xFF:
                break
            ln = struct.unpack_from("<H", hdr, 2)[0]
            if hdr[0] != _REC_MAGIC or ln > MAX_PAYLOAD or pos + _REC_HDR + ln + _REC_CRC > self.ss:
                return pos, snap_done, False, last_seq
            body = fl.read(base + pos, _REC_HDR + ln + _REC_CRC)
            want = struct.unpack_from("<I", body, _REC_HDR + ln)[0]
            if crc32(body, 0, 0, _REC_HDR + ln) != want:
                return pos, snap_done, False, last_seq
            typ = hdr[1]
            seq = struct.unpack_from("<I", hdr, 4)[0]
            last_seq = seq
            if typ == T_SNAPSHOT_END:
                snap_done = True
            elif sink is not None:
                sink(typ, seq, body[_REC_HDR:_REC_HDR + ln], snap_done)
            pos += _REC_HDR + ln + _REC_CRC
        # everything after the last record must still be erased
        tail = fl.read(base + pos, self.ss - pos) if pos < self.ss else b""
        clean = tail.count(b"\xff") == len(tail)
        return pos, snap_done, clean, last_seq

    # ------------------------------------------------------------ mount
    def mount(self, sink):
        """Find the active sector and replay it: sink(type, seq, payload,
        after_snapshot) is called per record. Returns the number replayed.
        A blank partition is formatted (first sector gets an empty snapshot)."""
        best = -1
        best_seq = -1
        # try candidates newest first; fall back if a snapshot is incomplete
        cands = []
        for i in range(self.n):
            s = self._read_sector_header(i)
            if s >= 0:
                cands.append((s, i))
        cands.sort()
        count = [0]

        def counting(typ, seq, payload, after):
            count[0] += 1
            sink(typ, seq, payload, after)

        for s, i in reversed(cands):
            pos, done, clean, last = self._scan(i, None)
            if done:
                best, best_seq = i, s
                break
        if best < 0:
            self.active = -1
            self.sector_seq = (cands[-1][0] if cands else 0)
            self.seq = 0
            self._compact_into_next(())
            return 0
        pos, done, clean, last = self._scan(best, counting)
        self.active = best
        self.sector_seq = best_seq
        self.write_pos = pos
        self.seq = last if last >= 0 else 0
        self.dirty = not clean
        return count[0]

    # ------------------------------------------------------------ append
    def _write_record(self, typ, payload):
        ln = len(payload)
        need = _REC_HDR + ln + _REC_CRC
        if self.write_pos + need > self.ss:
            return False
        self.seq += 1
        buf = bytearray(need)
        buf[0] = _REC_MAGIC
        buf[1] = typ
        struct.pack_into("<HI", buf, 2, ln, self.seq)
        buf[_REC_HDR:_REC_HDR + ln] = payload
        struct.pack_into("<I", buf, _REC_HDR + ln, crc32(buf, 0, 0, _REC_HDR + ln))
        self.flash.write(self._base(self.active) + self.write_pos, bytes(buf))
        self.write_pos += need
        return True

    def _compact_into_next(self, records):
        nxt = 0 if self.active < 0 else (self.active + 1) % self.n
        self.flash.erase(self.first + nxt)
        self.sector_seq += 1
        hdr = bytearray(_SECTOR_HDR)
        hdr[0:4] = _MAGIC
        struct.pack_into("<I", hdr, 4, self.sector_seq)
        struct.pack_into("<I", hdr, 8, crc32(hdr, 0, 0, 8))
        self.active = nxt
        self.write_pos = _SECTOR_HDR
        self.dirty = False
        self.flash.write(self._base(nxt), bytes(hdr))
        for typ, payload in records:
            if not self._write_record(typ, payload):
                raise JournalFull("snapshot larger than a sector")
        self._write_record(T_SNAPSHOT_END, b"")
        self.compactions += 1

    def append(self, typ, payload, snapshot):
        """Append one record. `snapshot()` returns the live state as a list of
        (type, payload) and is called only when a compaction is needed; it
        must already include this record's effect. Returns the record's
        sequence number once it is on flash."""
        if typ == T_SNAPSHOT_END or len(payload) > MAX_PAYLOAD:
            raise ValueError("bad record")
        if self.active < 0 or self.dirty or not self._write_record(typ, payload):
            self._compact_into_next(snapshot())
        return self.seq
