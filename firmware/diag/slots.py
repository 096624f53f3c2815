"""Two image slots, the boot state and the bootloader's decision. Sans-IO
over the HAL `Flash` contract (erase whole sectors, program only erased
space).

Layout on the image flash (sector indices):

    [state 0][state 1][slot A: n sectors][slot B: n sectors]

Granularity (the targets' real units): STM32H743 erases 128 KiB sectors
and programs 256-bit flash words with ECC (a word may be programmed once
per erase: RM0433 s4.3.9); STM32F767 has 32/128/256 KiB sectors and
byte/word programming. Everything here is written in PROGRAM_UNIT = 32-byte
aligned chunks into erased space only, and every sector is erased (and the
erase verified) before its first write, so both fit.

Boot state: fixed 64-byte records (2 program units) appended in one of two
state sectors; the newest record with a valid CRC wins. A torn record fails
its CRC and the previous one stays in force; switching sectors erases the
other one first, so the current sector is never touched until a record in
the new one is complete. Record:

    "VXBS" | u32 seq | u8 confirmed slot | u8 trial slot | u8 trial boots |
    u8 last result | u32 anti-rollback counter | crc32 | 0xFF fill

Update sequence (each step leaves a bootable box whenever power is cut):
 1. erase the inactive slot (never the confirmed or the running one);
 2. stream the image in (program units, in order);
 3. check: header, size, board, SHA-256, Ed25519 signature, anti-rollback;
    only then write the state record "trial = that slot, 0 boots";
 4. reset: the bootloader sees a trial with 0 boots, writes "1 boot" and
    boots it; a trial that was already booted once and not confirmed is
    reverted (trial cleared, the confirmed slot boots);
 5. the application confirms after its self-test: "confirmed = trial",
    anti-rollback counter = max(counter, image counter).
The hash and signature of a slot are checked again by the bootloader
before it boots it (MCUboot's validate-every-boot policy).
"""
import hashlib
import struct

from micropython import const

from firmware.diag import image as I
from firmware.diag.crypto import ed25519_verify
from firmware.safety.crc import crc32

PROGRAM_UNIT = const(32)
REC_SIZE = const(64)
NONE = const(0xFF)             # no slot (the firmware built into the MCU)
_REC_MAGIC = b"VXBS"
_REC_FMT = "<4sIBBBBI"         # 16 bytes, then crc32
_HASH_CHUNK = const(32768)      # per main-loop pass: ~2 ms of hashlib SHA-256 on a Cortex-M7

SLOT_NAMES = ("A", "B")


class FlashError(Exception):
    pass


class BootState:
    def __init__(self):
        self.seq = 0
        self.confirmed = NONE
        self.trial = NONE
        self.trial_boots = 0
        self.last_result = 0
        self.counter = 0

    def copy(self):
        s = BootState()
        s.seq, s.confirmed, s.trial, s.trial_boots = self.seq, self.confirmed, self.trial, self.trial_boots
        s.last_result, s.counter = self.last_result, self.counter
        return s


class Slots:
    def __init__(self, flash, slot_sectors, state_first=0, pubkey=b"", board=I.BOARD):
        self.flash = flash
        self.ss = flash.sector_size
        if self.ss % REC_SIZE or self.ss < 2 * REC_SIZE:
            raise ValueError("sector size does not hold state records")
        self.state_first = state_first
        self.slot_sectors = slot_sectors
        if (state_first + 2 + 2 * slot_sectors) * self.ss > flash.size:
            raise ValueError("two slots do not fit the image flash")
        self.pubkey = pubkey
        self.board = board
        self.state = BootState()
        self._state_sector = -1     # 0/1 within the state pair, -1 none
        self._state_pos = 0
        self.running = NONE         # the slot this boot runs from (set by select())

    # ------------------------------------------------------------ geometry
    def capacity(self):
        return self.slot_sectors * self.ss

    def slot_base(self, slot):
        return (self.state_first + 2 + slot * self.slot_sectors) * self.ss

    def slot_first_sector(self, slot):
        return self.state_first + 2 + slot * self.slot_sectors

    def read(self, slot, off, n):
        return self.flash.read(self.slot_base(slot) + off, n)

    def erase_sector(self, sector):
        """Erase and verify one sector."""
        self.flash.erase(sector)
        base = sector * self.ss
        step = 1024
        for off in range(0, self.ss, step):
            b = self.flash.read(base + off, step)
            if b.count(b"\xff") != len(b):
                raise FlashError("erase of sector %d did not verify" % sector)

    # ------------------------------------------------------------ boot state records
    def _rec_bytes(self, st):
        r = bytearray(b"\xff" * REC_SIZE)
        head = struct.pack(_REC_FMT, _REC_MAGIC, st.seq, st.confirmed, st.trial, st.trial_boots,
                           st.last_result, st.counter)
        r[0:16] = head
        r[16:20] = struct.pack("<I", crc32(head))
        return bytes(r)

    def _parse_rec(self, b):
        if b[0:4] != _REC_MAGIC:
            return None
        if struct.unpack_from("<I", b, 16)[0] != crc32(b, 0, 0, 16):
            return None
        v = struct.unpack_from(_REC_FMT, b, 0)
        st = BootState()
        st.seq, st.confirmed, st.trial, st.trial_boots, st.last_result, st.counter = v[1:]
        if st.confirmed not in (0, 1, NONE) or st.trial not in (0, 1, NONE):
            return None
        return st

    def load_state(self):
        best = None
        best_sec = -1
        best_pos = 0
        for k in (0, 1):
            base = (self.state_first + k) * self.ss
            pos = 0
            while pos + REC_SIZE <= self.ss:
                b = self.flash.read(base + pos, REC_SIZE)
                if b.count(b"\xff") == REC_SIZE:
                    break       # first blank record: the end of this sector's log
                st = self._parse_rec(b)
                if st is not None and (best is None or st.seq > best.seq):
                    best, best_sec, best_pos = st, k, pos + REC_SIZE
                pos += REC_SIZE
        if best is None:
            self.state = BootState()
            self._state_sector = -1
        else:
            self.state = best
            self._state_sector = best_sec
            self._state_pos = best_pos
        return self.state

    def _next_free(self, k, start):
        base = (self.state_first + k) * self.ss
        pos = start
        while pos + REC_SIZE <= self.ss:
            b = self.flash.read(base + pos, self.ss - pos if pos + 2 * REC_SIZE > self.ss else REC_SIZE)
            if b.count(b"\xff") == len(b):
                # the rest of the sector after this record must be blank too
                tail = self.flash.read(base + pos, self.ss - pos)
                if tail.count(b"\xff") == len(tail):
                    return pos
            pos += REC_SIZE
        return -1

    def save_state(self, st):
        """Write `st` as the newest record (seq + 1). Power-cut safe."""
        st = st.copy()
        st.seq = self.state.seq + 1
        rec = self._rec_bytes(st)
        k = self._state_sector
        pos = -1
        if k >= 0:
            pos = self._next_free(k, self._state_pos)
        if pos < 0:
            k = 1 if k == 0 else 0
            self.erase_sector(self.state_first + k)
            pos = 0
        base = (self.state_first + k) * self.ss
        self.flash.write(base + pos, rec)
        if self.flash.read(base + pos, REC_SIZE) != rec:
            raise FlashError("state record did not verify")
        self.state = st
        self._state_sector = k
        self._state_pos = pos + REC_SIZE
        return st

    # ------------------------------------------------------------ checks
    def header(self, slot):
        res, h = I.parse_header(self.read(slot, 0, I.HEADER_SIZE), self.capacity())
        return res, h

    def check_header(self, slot):
        res, h = self.header(slot)
        if res != I.OK or h is None:
            return res, h
        if h.board != self.board:
            return I.E_BOARD, h
        return I.OK, h

    def hash_steps(self, slot, h):
        """Generator over the payload hash: yields the running sha256 object
        after each chunk (the caller spreads a long check over main-loop passes)."""
        sha = hashlib.sha256()
        pos = 0
        base = self.slot_base(slot) + I.HEADER_SIZE
        while pos < h.size:
            n = h.size - pos
            if n > _HASH_CHUNK:
                n = _HASH_CHUNK
            sha.update(self.flash.read(base + pos, n))
            pos += n
            yield sha
        yield sha

    def check_signature(self, slot, h):
        sig = self.read(slot, I.HEADER_SIZE + h.size, I.SIGNATURE_SIZE)
        return ed25519_verify(self.pubkey, h.raw, sig)

    def verify_slot(self, slot, counter=None):
        """Full check of a slot; returns (result, header)."""
        res, h = self.check_header(slot)
        if res != I.OK or h is None:
            return res, h
        sha = None
        for sha in self.hash_steps(slot, h):
            pass
        if sha is None or sha.digest() != h.sha256:
            return I.E_HASH, h
        if not self.check_signature(slot, h):
            return I.E_SIGNATURE, h
        if counter is not None and h.counter < counter:
            return I.E_DOWNGRADE, h
        return I.OK, h

    # ------------------------------------------------------------ bootloader
    def select(self):
        """The bootloader's decision at reset: returns (slot or NONE, header or None).
        May write one state record (trial boot counted, or trial reverted)."""
        st = self.load_state()
        if st.trial != NONE:
            if st.trial_boots == 0:
                res, h = self.verify_slot(st.trial)
                n = st.copy()
                if res == I.OK:
                    n.trial_boots = 1
                    self.save_state(n)
                    self.running = st.trial
                    return st.trial, h
                n.trial = NONE
                n.last_result = res
                self.save_state(n)
            else:
                n = st.copy()          # booted once, never confirmed: revert
                n.trial = NONE
                n.trial_boots = 0
                n.last_result = I.E_PAYLOAD if n.last_result == I.OK else n.last_result
                self.save_state(n)
        st = self.state
        if st.confirmed != NONE:
            res, h = self.verify_slot(st.confirmed)
            if res == I.OK:
                self.running = st.confirmed
                return st.confirmed, h
        self.running = NONE
        return NONE, None

    def target_slot(self):
        """Where the next image goes: never the confirmed or the running slot."""
        busy = (self.state.confirmed, self.running)
        for s in (0, 1):
            if s not in busy:
                return s
        return NONE

    def confirm(self):
        """The application passed its self-test: make the trial permanent."""
        st = self.state
        if st.trial == NONE or self.running != st.trial:
            return False
        res, h = self.header(st.trial)
        n = st.copy()
        n.confirmed = st.trial
        n.trial = NONE
        n.trial_boots = 0
        n.last_result = I.OK
        if h is not None and h.counter > n.counter:
            n.counter = h.counter
        self.save_state(n)
        return True

    def mark_trial(self, slot, result):
        """After a successful check: the slot boots once as a trial at the next reset."""
        n = self.state.copy()
        n.last_result = result
        if result == I.OK:
            n.trial = slot
            n.trial_boots = 0
        self.save_state(n)


class SlotWriter:
    """Streams an image into a slot in PROGRAM_UNIT chunks (resumable while
    powered: `received` is what the host may resume from)."""

    def __init__(self, slots, slot, length):
        self.slots = slots
        self.slot = slot
        self.length = length
        self.received = 0
        self._pend = bytearray()
        self._written = 0         # bytes programmed (multiple of PROGRAM_UNIT)

    def write(self, data):
        if self.received + len(data) > self.length:
            raise ValueError("more data than requested")
        self._pend.extend(data)
        self.received += len(data)
        n = len(self._pend) - len(self._pend) % PROGRAM_UNIT
        if n:
            base = self.slots.slot_base(self.slot)
            self.slots.flash.write(base + self._written, bytes(self._pend[:n]))
            self._written += n
            self._pend = self._pend[n:]

    def finish(self):
        if self._pend:
            pad = PROGRAM_UNIT - len(self._pend)
            self._pend.extend(b"\xff" * pad)
            self.slots.flash.write(self.slots.slot_base(self.slot) + self._written, bytes(self._pend))
            self._written += len(self._pend)
            self._pend = bytearray()
        return self.received == self.length
