"""Power-loss-safe record journal on NOR flash (via the hal `Flash` contract).

Layout: a partition of n >= 2 erase units ("sectors"). Each sector starts
with a header

    magic "VXJ2" | sector sequence (u32) | crc32 of the preceding 8 bytes

followed by records

    0xA5 | type (u8) | length (u16) | record sequence (u32) | payload | crc32

(little-endian; the CRC covers everything before it). The header and every
record are padded with 0xFF to the flash's program unit (`program_size`:
4 B on the STM32F767, a 32 B ECC flash word on the STM32H743), so each is
programmed exactly once, in whole units, and nothing is ever appended into
a unit that was already programmed. A sector's first records are a
*snapshot* of the live state, closed by a SNAPSHOT_END record; only then
does the sector count.

Every program is verified by reading it back; a program that fails (an
OSError from the controller, or bytes that did not land) marks the sector
dirty, so nothing is ever written behind damaged bytes: the record goes into
a fresh sector with the snapshot. `append()` returns only once the record is
verified on flash, so a caller that reports success after it is durable.

Mount: the newest sector (highest sequence) whose snapshot is complete is
the active one; its records are replayed in order up to the first invalid
one. Anything after that (a torn or failed write) makes the sector dirty.

Compaction into the next sector: erase, verify the erase (all 0xFF; one
retry), write and verify the header, the snapshot and SNAPSHOT_END, and only
then switch to it. Until SNAPSHOT_END lands the previous sector stays
authoritative, so a power cut or a flash error during compaction loses
nothing; a torn erase leaves a sector whose header is gone or fails its CRC.
A compaction that cannot complete raises StorageError (the caller contains
it); the journal keeps its previous state and tries again on the next append.
"""
import struct

from micropython import const

from firmware.safety.crc import crc32

_MAGIC = b"VXJ2"
_SECTOR_HDR = const(12)
_REC_MAGIC = const(0xA5)
_REC_HDR = const(8)
_REC_CRC = const(4)
T_SNAPSHOT_END = const(0xFE)
MAX_PAYLOAD = const(1024)
_VERIFY_CHUNK = const(1024)


class JournalFull(Exception):
    """The live state does not fit in one sector."""


class StorageError(OSError):
    """The flash could not be programmed/erased (after verify and retry)."""


def padded(n, unit):
    return (n + unit - 1) // unit * unit


def record_size(payload_len, unit=1):
    """Bytes a record takes on flash with the given program unit."""
    return padded(_REC_HDR + payload_len + _REC_CRC, unit)


def overhead(unit=1):
    """Sector header + an empty SNAPSHOT_END record."""
    return padded(_SECTOR_HDR, unit) + record_size(0, unit)


class Journal:
    def __init__(self, flash, first_sector, n_sectors):
        if n_sectors < 2:
            raise ValueError("journal needs at least 2 sectors")
        self.flash = flash
        self.first = first_sector
        self.n = n_sectors
        self.ss = flash.sector_size
        self.unit = getattr(flash, "program_size", 1) or 1
        self.active = -1      # index within the partition
        self.sector_seq = 0
        self.seq = 0          # last record sequence number
        self.write_pos = 0    # offset inside the active sector
        self.dirty = False
        self.compactions = 0
        self.write_errors = 0  # programs that failed verify (counted, contained)
        self.erase_errors = 0
        self._spare = -1       # a sector erased and verified by prepare(), untouched since

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
        pos = padded(_SECTOR_HDR, self.unit)
        snap_done = False
        last_seq = -1
        fl = self.flash
        while pos + _REC_HDR + _REC_CRC <= self.ss:
            hdr = fl.read(base + pos, _REC_HDR)
            if hdr[0] == 0xFF:
                break
            ln = struct.unpack_from("<H", hdr, 2)[0]
            if hdr[0] != _REC_MAGIC or ln > MAX_PAYLOAD or pos + record_size(ln, self.unit) > self.ss:
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
            pos += record_size(ln, self.unit)
        # everything after the last record must still be erased
        clean = self._blank(idx, pos)
        return pos, snap_done, clean, last_seq

    def _blank(self, idx, start=0):
        base = self._base(idx)
        pos = start
        while pos < self.ss:
            n = self.ss - pos if self.ss - pos < _VERIFY_CHUNK else _VERIFY_CHUNK
            b = self.flash.read(base + pos, n)
            if b.count(b"\xff") != n:
                return False
            pos += n
        return True

    # ------------------------------------------------------------ mount
    def mount(self, sink):
        """Find the active sector and replay it: sink(type, seq, payload,
        after_snapshot) is called per record. Returns the number replayed.
        A blank partition is formatted (first sector gets an empty snapshot)."""
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

        best = -1
        best_seq = -1
        for s, i in reversed(cands):
            pos, done, clean, last = self._scan(i, None)
            if done:
                best, best_seq = i, s
                break
        self.sector_seq = cands[-1][0] if cands else 0
        if best < 0:
            self.active = -1
            self.seq = 0
            self.dirty = False
            self._compact(())
            return 0
        pos, done, clean, last = self._scan(best, counting)
        self.active = best
        self.write_pos = pos
        self.seq = last if last >= 0 else 0
        self.dirty = not clean
        return count[0]

    # ------------------------------------------------------------ programming
    def _record(self, typ, payload, seq):
        ln = len(payload)
        need = _REC_HDR + ln + _REC_CRC
        buf = bytearray(b"\xff" * padded(need, self.unit))
        buf[0] = _REC_MAGIC
        buf[1] = typ
        struct.pack_into("<HI", buf, 2, ln, seq)
        buf[_REC_HDR:_REC_HDR + ln] = payload
        struct.pack_into("<I", buf, _REC_HDR + ln, crc32(buf, 0, 0, _REC_HDR + ln))
        return bytes(buf)

    def _program(self, addr, data):
        """Program and read back. False if the controller reported an error
        or the bytes did not land (a power cut is not caught here)."""
        try:
            self.flash.write(addr, data)
        except OSError:
            self.write_errors += 1
            return False
        if self.flash.read(addr, len(data)) != data:
            self.write_errors += 1
            return False
        return True

    def _erase(self, idx):
        """Erase and verify (one retry)."""
        for _ in range(2):
            try:
                self.flash.erase(self.first + idx)
            except OSError:
                self.erase_errors += 1
                continue
            if self._blank(idx):
                return True
            self.erase_errors += 1
        return False

    def _fill(self, idx, records):
        """Erase sector idx and write header + snapshot + SNAPSHOT_END into
        it, each verified; switch to it only when all landed."""
        seq = self.sector_seq + 1
        self.sector_seq = seq           # never reused, even if this attempt fails
        if self._spare == idx:
            self._spare = -1            # pre-erased while idle: programs only
        elif not self._erase(idx):
            return False
        hdr = bytearray(b"\xff" * padded(_SECTOR_HDR, self.unit))
        hdr[0:4] = _MAGIC
        struct.pack_into("<I", hdr, 4, seq)
        struct.pack_into("<I", hdr, 8, crc32(hdr, 0, 0, 8))
        base = self._base(idx)
        if not self._program(base, bytes(hdr)):
            return False
        pos = len(hdr)
        s = self.seq
        for typ, payload in records:
            s += 1
            rec = self._record(typ, payload, s)
            if not self._program(base + pos, rec):
                return False
            pos += len(rec)
        s += 1
        rec = self._record(T_SNAPSHOT_END, b"", s)
        if not self._program(base + pos, rec):
            return False
        pos += len(rec)
        self.active = idx
        self.write_pos = pos
        self.seq = s
        self.dirty = False
        self.compactions += 1
        return True

    def _compact(self, records):
        size = overhead(self.unit)
        for typ, payload in records:
            size += record_size(len(payload), self.unit)
        if size > self.ss:
            raise JournalFull("snapshot larger than a sector")
        start = self.active
        for k in range(1, self.n + 1):
            idx = (start + k) % self.n if start >= 0 else k - 1
            if idx == self.active:
                continue                 # never erase the authoritative sector
            if self._fill(idx, records):
                return
        raise StorageError("journal: no sector could be erased and written")

    def needs_spare(self):
        """The active sector is past half full (or dirty) and the sector the
        next compaction will use is not known to be erased."""
        if self.active < 0:
            return False
        nxt = (self.active + 1) % self.n
        return self._spare != nxt and (self.dirty or self.write_pos * 2 > self.ss)

    def prepare(self):
        """Erase and verify, ahead of time, the sector the next compaction
        will use, so a compaction that happens later (possibly during a
        session) only programs: the slow erase is done while the box is idle.
        Returns True if the spare is ready."""
        if self.active < 0:
            return False
        nxt = (self.active + 1) % self.n
        if self._spare == nxt:
            return True
        if self._erase(nxt):
            self._spare = nxt
            return True
        return False

    def append(self, typ, payload, snapshot):
        """Append one record. `snapshot()` returns the live state as a list of
        (type, payload) and is called only when a compaction is needed; it
        must already include this record's effect. Returns the record's
        sequence number once it is verified on flash; raises StorageError
        (nothing lost that was committed before) if the flash fails."""
        if typ == T_SNAPSHOT_END or len(payload) > MAX_PAYLOAD:
            raise ValueError("bad record")
        if self.active >= 0 and not self.dirty:
            rec = self._record(typ, payload, self.seq + 1)
            if self.write_pos + len(rec) <= self.ss:
                ok = self._program(self._base(self.active) + self.write_pos, rec)
                self.seq += 1
                if ok:
                    self.write_pos += len(rec)
                    return self.seq
                # damaged bytes here: never write behind them
                self.dirty = True
        self._compact(snapshot())
        return self.seq
