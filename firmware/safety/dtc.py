"""Diagnostic trouble codes, ISO 14229-1 style, kept in a flash journal.

A DTC number is 3 bytes: a 2-byte SAE J2012-style code (letter in the top
two bits: P=00, C=01, B=10, U=11) and a failure-type byte. The codes below
are manufacturer-controlled (P1Axx / U1Axx); failure type 0x00 = no sub-type.

Status byte bits (ISO 14229-1 DTCStatusMask) are kept per DTC, with an
occurrence counter, an aging counter and a freeze frame of the most recent
failure (timestamp, session state, key measurements, latched fault mask).
A record is written only when something changes, never per tick.
"""
import struct

from micropython import const

from firmware.safety import faults as fl
from firmware.safety import journal as J
from firmware.safety.journal import Journal

# ---- status bits
TF = const(0x01)      # testFailed
TFTOC = const(0x02)   # testFailedThisOperationCycle
PDTC = const(0x04)    # pendingDTC
CDTC = const(0x08)    # confirmedDTC
TNCSLC = const(0x10)  # testNotCompletedSinceLastClear
TFSLC = const(0x20)   # testFailedSinceLastClear
TNCTOC = const(0x40)  # testNotCompletedThisOperationCycle
WIR = const(0x80)     # warningIndicatorRequested
STATUS_AFTER_CLEAR = const(0x50)   # TNCSLC | TNCTOC
STATUS_AVAILABILITY_MASK = const(0xFF)
# Confirmed DTCs age out after this many operation cycles without a failure
# (team: the usual 40-cycle OBD aging; a safety fault confirms on first failure).
AGING_CYCLES = const(40)

# ---- record types in the journal
_T_ENTRY = const(1)
_T_CLEAR = const(2)
_T_CYCLE = const(3)
# dtc(u32) status occ aging | ts(u32) state | v_inlet v_link (0.1 V, u16) | i (0.1 A, i16) | t (degC, i8) | soc (u8) | faults (u32)
_FMT = "<IBBBIBHHhbBI"
ENTRY_SIZE = struct.calcsize(_FMT)


def code(letter, digits, ftb=0):
    """code('P', 0x1A00) -> 3-byte DTC number."""
    return ((("PCBU".index(letter)) << 14 | digits) << 8) | ftb


def text(dtc):
    """3-byte DTC number -> 'P1A00-00'."""
    hi = dtc >> 8
    return "%s%04X-%02X" % ("PCBU"[hi >> 14], hi & 0x3FFF, dtc & 0xFF)


# One DTC per supervisor fault (indexed by fault bit), plus session-level ones.
FAULT_DTC = (
    code("P", 0x1A00),   # estop
    code("P", 0x1A01),   # isolation < 100 kOhm
    code("P", 0x1A02),   # over-temperature stop
    code("U", 0x1A00),   # vehicle link lost (PLC or CAN)
    code("U", 0x1A01),   # power-stage link lost (internal CAN)
    code("P", 0x1A05),   # main loop stall / watchdog reset
    code("P", 0x1A06),   # backfeed on the AC output
    code("P", 0x1A07),   # RCD tripped / not armed
    code("P", 0x1A08),   # over-current
    code("P", 0x1A09),   # short circuit (above fuse rating)
    code("P", 0x1A0A),   # SoC floor reached (information)
    code("P", 0x1A0B),   # car minimum voltage reached (information)
    code("P", 0x1A0C),   # box contactor welded
    code("P", 0x1A0D),   # box contactor failed to close
    code("P", 0x1A0E),   # power stage internal fault
    code("P", 0x1A0F),   # ramp-down timeout
    code("P", 0x1A1F),   # invariant guard fired (firmware defect)
    code("P", 0x1A12),   # voltage sensor implausible
    code("P", 0x1A13),   # current sensor implausible
    code("P", 0x1A14),   # temperature sensor implausible / stale
    code("P", 0x1A15),   # IMD not measuring / stale
    code("U", 0x1A02),   # vehicle data implausible
    code("P", 0x1A16),   # AC output sensor implausible
    code("P", 0x1A17),   # flash storage error
    code("P", 0x1A18),   # RCD self-test failed (V2V)
    code("P", 0x1A19),   # V2H transfer interlock stale / opened under load
)
DTC_EMERGENCY_OPEN = code("P", 0x1A10)   # contactor opened above I_BREAK_MAX_A
DTC_SESSION_FAIL = code("P", 0x1A11)     # session timeout / protocol failure
# every DTC this firmware can set: the log's size is bounded by it
ALL_DTCS = FAULT_DTC + (DTC_EMERGENCY_OPEN, DTC_SESSION_FAIL)


def snapshot_bytes(program_size=1, n_dtcs=None):
    """Flash bytes of a compaction with every DTC present (header, the one
    snapshot record, SNAPSHOT_END)."""
    n = len(ALL_DTCS) if n_dtcs is None else n_dtcs
    return J.overhead(program_size) + J.record_size(4 + n * ENTRY_SIZE, program_size)


class Freeze:
    """Measurements captured with a failure (filled by the caller)."""

    def __init__(self):
        self.state = 0
        self.v_inlet = 0.0
        self.v_link = 0.0
        self.i_dc = 0.0
        self.temp = 0.0
        self.soc = -1
        self.faults = 0


def _clamp(x, lo, hi, na):
    """Integer for the freeze frame; NaN (an untrusted reading) -> `na`."""
    if not (x == x):
        return na
    return int(lo if x < lo else hi if x > hi else x)


class DtcStore:
    def __init__(self, flash, first_sector, n_sectors):
        self.entries = {}      # dtc -> [status, occ, aging, ts, state, vin, vlink, i, t, soc, faults]
        self.cycle = 0
        self.writes = 0
        if flash is None:      # RAM only (the flash partition is unusable): nothing persists
            self.j = None
            return
        # The full log (every DTC) must fit one erase unit with room for as
        # much again of records, or every write would compact: a layout
        # error, refused here rather than a JournalFull at run time.
        need = 2 * snapshot_bytes(getattr(flash, "program_size", 1) or 1)
        if flash.sector_size < need:
            raise ValueError("DTC log needs erase units of at least %d bytes (got %d)"
                             % (need, flash.sector_size))
        self.j = Journal(flash, first_sector, n_sectors)

    # ------------------------------------------------------------ persistence
    def mount(self):
        self.entries = {}
        self.cycle = 0
        if self.j is None:
            return 0
        return self.j.mount(self._replay)

    def _replay(self, typ, seq, payload, after_snapshot):
        if typ == _T_ENTRY and len(payload) == ENTRY_SIZE:
            v = list(struct.unpack(_FMT, payload))
            self.entries[v[0]] = v[1:]
        elif typ == _T_CLEAR:
            self.entries = {}
        elif typ == _T_CYCLE and len(payload) >= 4 and (len(payload) - 4) % ENTRY_SIZE == 0:
            self.cycle = struct.unpack_from("<I", payload, 0)[0]
            for off in range(4, len(payload), ENTRY_SIZE):
                v = list(struct.unpack(_FMT, payload[off:off + ENTRY_SIZE]))
                self.entries[v[0]] = v[1:]

    def _pack(self, dtc):
        e = self.entries[dtc]
        return struct.pack(_FMT, dtc, *e)

    def _snapshot(self):
        """The whole live state as ONE record (cycle + every entry): one
        program per compaction, bounded by ALL_DTCS."""
        rec = struct.pack("<I", self.cycle)
        for dtc in sorted(self.entries):
            rec += self._pack(dtc)
        return [(_T_CYCLE, rec)]

    def _append(self, typ, payload):
        """RAM is already updated; if the flash refuses, the next successful
        write is a full snapshot (the journal is marked dirty), so flash
        catches up with RAM instead of silently missing this change."""
        self.writes += 1
        if self.j is None:
            return
        try:
            self.j.append(typ, payload, self._snapshot)
        except Exception:
            self.j.dirty = True
            raise

    def _save(self, dtc):
        self._append(_T_ENTRY, self._pack(dtc))

    # ------------------------------------------------------------ ISO 14229 status handling
    def failed(self, dtc, now_ms, ff=None, warning=False):
        """Test result 'failed'. Writes a record on a new occurrence (TF 0->1)
        or on the first failure in this operation cycle."""
        e = self.entries.get(dtc)
        if e is None:
            if dtc not in ALL_DTCS:
                raise ValueError("unknown DTC")
            e = [STATUS_AFTER_CLEAR, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0]
            self.entries[dtc] = e
        old = e[0]
        if old & TF and old & TFTOC:
            return False
        st = (old | TF | TFTOC | PDTC | CDTC | TFSLC) & ~(TNCSLC | TNCTOC)
        if warning:
            st |= WIR
        e[0] = st
        e[2] = 0
        if not old & TF:
            e[1] = e[1] + 1 if e[1] < 255 else 255
            e[3] = now_ms & 0xFFFFFFFF
            if ff is not None:
                e[4] = ff.state & 0xFF
                e[5] = _clamp(ff.v_inlet * 10, 0, 65534, 65535)
                e[6] = _clamp(ff.v_link * 10, 0, 65534, 65535)
                e[7] = _clamp(ff.i_dc * 10, -32767, 32767, -32768)
                e[8] = _clamp(ff.temp, -127, 127, -128)
                e[9] = int(ff.soc) if 0 <= ff.soc <= 100 else 0xFF
                e[10] = ff.faults & 0xFFFFFFFF
        self._save(dtc)
        return True

    def passed(self, dtc):
        """Test result 'passed' (the condition is gone)."""
        e = self.entries.get(dtc)
        if e is None:
            return False
        st = e[0] & ~(TF | TNCSLC | TNCTOC)
        if st == e[0]:
            return False
        e[0] = st
        self._save(dtc)
        return True

    def new_cycle(self):
        """Start of an operation cycle (each session start): ISO 14229-1
        end-of-cycle handling of pendingDTC and aging of confirmedDTC, then
        TFTOC cleared and TNCTOC set for the new cycle."""
        self.cycle += 1
        changed = []
        for dtc in self.entries:
            e = self.entries[dtc]
            st = old = e[0]
            if not st & TFTOC and not st & TNCTOC:
                st &= ~PDTC            # a completed cycle without failure
            if st & CDTC and not st & TFTOC:
                e[2] += 1
                if e[2] >= AGING_CYCLES:
                    st &= ~(CDTC | WIR)
                    e[2] = 0
            st = (st & ~TFTOC) | TNCTOC
            e[0] = st
            if st != old or e[2]:
                changed.append(dtc)
        # one record carries the cycle and every changed entry: atomic on flash
        rec = struct.pack("<I", self.cycle)
        for dtc in sorted(changed):
            rec += self._pack(dtc)
        self._append(_T_CYCLE, rec)

    def clear(self):
        """ClearDiagnosticInformation (group 0xFFFFFF)."""
        self.entries = {}
        self._append(_T_CLEAR, b"")

    # ------------------------------------------------------------ reading
    def status(self, dtc):
        e = self.entries.get(dtc)
        return STATUS_AFTER_CLEAR if e is None else e[0]

    def occurrences(self, dtc):
        e = self.entries.get(dtc)
        return 0 if e is None else e[1]

    def by_status_mask(self, mask):
        """ReadDTCInformation reportDTCByStatusMask: [(dtc, status)]."""
        out = []
        for dtc in sorted(self.entries):
            st = self.entries[dtc][0]
            if st & mask:
                out.append((dtc, st))
        return out

    def freeze_frame(self, dtc):
        """(timestamp ms, state, v_inlet V, v_link V, i A, temp degC, soc or -1, fault mask)"""
        e = self.entries.get(dtc)
        if e is None:
            return None
        return (e[3], e[4], e[5] / 10, e[6] / 10, e[7] / 10, e[8], -1 if e[9] == 0xFF else e[9], e[10])


def warning_for(fault):
    """Warning indicator for faults that trip or lock out."""
    return fl.FAULTS[fault][1] >= fl.R_TRIP
