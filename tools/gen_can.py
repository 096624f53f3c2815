#!/usr/bin/env python3
"""DBC -> MicroPython codec modules (firmware/can/gen/<dbc>.py).

    python tools/gen_can.py            regenerate every module from dbc/*.dbc
    python tools/gen_can.py --check    exit 1 if any committed module is stale

It also writes tests/device/can_vectors.json: golden encode/decode vectors
produced by cantools, which the device tests check inside MicroPython.

The DBC files are the single source of truth; cantools (host only) parses
them with strict checking, and any warning it emits is an error here. The
output is pure data (one tuple per message) plus thin wrappers around the
shared runtime firmware/can/codec.py, and it is deterministic: same DBC
bytes, same module bytes (the test suite regenerates and compares).

Project DBC conventions the generator relies on:
  * BA_ "GenMsgCycleTime" (ms, 0 = event-driven) - the usual Vector attribute;
  * BA_ "GenMsgTimeoutTime" (ms) - receive supervision timeout; when absent
    or 0 a cyclic message defaults to 3 cycles, an event message to none;
  * simple multiplexing only (one multiplexer signal, unsigned, scale 1);
  * integer signals only (no IEEE float SIG_VALTYPE_).
"""
import argparse
import hashlib
import json
import logging
import math
import os
import random
import re
import sys
import warnings
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DBC_DIR = os.path.join(ROOT, "dbc")
OUT_DIR = os.path.join(ROOT, "firmware", "can", "gen")
VECTORS = os.path.join(ROOT, "tests", "device", "can_vectors.json")
VECTORS_PER_KIND = 4
TIMEOUT_CYCLES_DEFAULT = 3

INIT_TEXT = '''"""Generated CAN codecs, one module per dbc/*.dbc (tools/gen_can.py). Do not edit."""
'''


class GenError(Exception):
    pass


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def load_strict(path):
    """cantools database with strict=True; any warning (Python warning or
    cantools log record) is turned into a GenError."""
    import cantools

    handler = _Collect()
    log = logging.getLogger("cantools")
    log.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            db = cantools.database.load_file(path, strict=True)
    finally:
        log.removeHandler(handler)
    if handler.records:
        raise GenError("%s: cantools warnings: %s" % (path, "; ".join(handler.records)))
    return db


def segments(sig):
    """Per-byte pieces of a signal: (byte, shift in byte, mask, shift in raw).

    Raw bit i (0 = LSB) lives at message bit (byte*8 + bit, bit 0 = LSB of
    the byte). Intel: start is the LSB, bits ascend. Motorola: start is the
    MSB in DBC sawtooth numbering, then bits walk towards the next byte."""
    n = sig.length
    where = []
    if sig.byte_order == "little_endian":
        for i in range(n):
            p = sig.start + i
            where.append((p // 8, p % 8))
    else:
        msb = (sig.start // 8) * 8 + (7 - sig.start % 8)  # MSB-first linear position
        for k in range(n):
            p = msb + k
            where.append((p // 8, 7 - p % 8))  # holds raw bit n-1-k
        where.reverse()
    segs = []
    i = 0
    while i < n:
        byte, bit = where[i]
        j = i + 1
        while j < n and where[j] == (byte, bit + (j - i)):
            j += 1
        width = j - i
        segs.append((byte, bit, (1 << width) - 1, i))
        i = j
    return tuple(segs)


def _num(v):
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == int(v) and abs(v) < 2 ** 53:
            return repr(float(v))
        return repr(v)
    raise GenError("unsupported number %r" % (v,))


def _ident(s):
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(s))
    if not s or s[0].isdigit():
        s = "_" + s
    return s


def _attr(msg, name):
    a = msg.dbc.attributes.get(name) if msg.dbc is not None else None
    return a.value if a is not None else None


def message_info(db_path, msg):
    if msg.is_container:
        raise GenError("%s: container message %s unsupported" % (db_path, msg.name))
    cycle = int(msg.cycle_time or 0)
    timeout = int(_attr(msg, "GenMsgTimeoutTime") or 0)
    if not timeout and cycle:
        timeout = TIMEOUT_CYCLES_DEFAULT * cycle
    mux_index = -1
    mux_vals = set()
    sigs = []
    for idx, s in enumerate(msg.signals):
        if s.is_float:
            raise GenError("%s: %s.%s: float signals unsupported" % (db_path, msg.name, s.name))
        if s.is_multiplexer:
            if mux_index >= 0:
                raise GenError("%s: %s: only one multiplexer per message" % (db_path, msg.name))
            if s.is_signed or s.scale != 1 or s.offset != 0 or s.multiplexer_ids:
                raise GenError("%s: %s.%s: multiplexer must be unsigned, scale 1, offset 0, not nested"
                               % (db_path, msg.name, s.name))
            mux_index = idx
        muxids = None
        if s.multiplexer_ids:
            muxids = tuple(sorted(s.multiplexer_ids))
            mux_vals.update(muxids)
        choices = None
        if s.choices:
            choices = tuple(sorted((int(k), str(v)) for k, v in s.choices.items()))
        sigs.append((s.name, segments(s), s.length, bool(s.is_signed), s.scale, s.offset,
                     s.minimum, s.maximum, muxids, choices))
    return {
        "name": msg.name, "id": msg.frame_id, "dlc": msg.length,
        "ext": bool(msg.is_extended_frame), "cycle": cycle, "timeout": timeout,
        "sender": msg.senders[0] if msg.senders else "",
        "mux": mux_index, "sigs": sigs, "muxvals": tuple(sorted(mux_vals)),
    }


def render(db_path):
    """Module text for one DBC file (deterministic)."""
    with open(db_path, "rb") as f:
        raw = f.read()
    db = load_strict(db_path)
    stem = os.path.splitext(os.path.basename(db_path))[0]
    rel = "dbc/" + os.path.basename(db_path)
    msgs = [message_info(rel, m) for m in sorted(db.messages, key=lambda m: m.frame_id)]

    out = []
    w = out.append
    w("# Generated by tools/gen_can.py from %s - do not edit; run `make gen`." % rel)
    w("# Source sha256: %s" % hashlib.sha256(raw).hexdigest())
    w('"""CAN codec for %s (messages: %d). Tables are read by firmware.can.codec."""' % (rel, len(msgs)))
    w("from micropython import const")
    w("from firmware.can import codec as _c")
    w("from firmware.can.codec import CodecError  # noqa: F401  (re-exported)")
    w("")
    w('DBC = "%s"' % stem)
    w("")
    w("# Frame ids")
    for m in msgs:
        w("ID_%s = const(0x%X)" % (m["name"], m["id"]))
    # value tables as constants: <Signal>_<Choice>, or <Message>_<Signal>_<Choice>
    # when the same signal name carries different tables in different messages
    consts = {}
    for m in msgs:
        for s in m["sigs"]:
            for raw_v, cname in s[9] or ():
                key = "%s_%s" % (s[0], _ident(cname))
                consts.setdefault(key, []).append((m["name"], s[0], cname, raw_v))
    lines = []
    for key in sorted(consts):
        entries = consts[key]
        if len(set(e[3] for e in entries)) == 1:
            lines.append("%s = const(%d)" % (key, entries[0][3]))
        else:
            for mname, sname, cname, raw_v in entries:
                lines.append("%s_%s_%s = const(%d)" % (mname, sname, _ident(cname), raw_v))
    if lines:
        w("")
        w("# Value tables (raw values)")
        out.extend(sorted(set(lines)))
    w("")
    w("# message: name, id, dlc, extended, cycle ms, rx timeout ms, sender, mux signal index, signals, mux values")
    w("# signal: name, segments ((byte, shift, mask, raw shift), ...), bits, signed, scale, offset,")
    w("#         min, max, mux ids, value table ((raw, name), ...)")
    for m in msgs:
        w("_M_%s = (" % m["name"])
        w('    "%s", 0x%X, %d, %s, %d, %d, "%s", %d, (' % (
            m["name"], m["id"], m["dlc"], m["ext"], m["cycle"], m["timeout"], m["sender"], m["mux"]))
        for s in m["sigs"]:
            segs = "(" + ", ".join("(%d, %d, %d, %d)" % g for g in s[1]) + ("," if len(s[1]) == 1 else "") + ")"
            muxids = "None" if s[8] is None else "(" + ", ".join(str(i) for i in s[8]) + ",)"
            if s[9] is None:
                ch = "None"
            else:
                ch = "(" + ", ".join('(%d, "%s")' % (r, n.replace('"', "'")) for r, n in s[9]) + ",)"
            w('        ("%s", %s, %d, %s, %s, %s, %s, %s, %s, %s),' % (
                s[0], segs, s[2], s[3], _num(s[4]), _num(s[5]), _num(s[6]), _num(s[7]), muxids, ch))
        mv = "(" + ", ".join(str(v) for v in m["muxvals"]) + ("," if m["muxvals"] else "") + ")"
        w("    ), %s)" % mv)
    w("")
    w("MESSAGES = {")
    for m in msgs:
        w("    ID_%s: _M_%s," % (m["name"], m["name"]))
    w("}")
    w("BY_NAME = {")
    for m in msgs:
        w('    "%s": ID_%s,' % (m["name"], m["name"]))
    w("}")
    w("# cyclic messages only (GenMsgCycleTime > 0)")
    w("CYCLE_MS = {")
    for m in msgs:
        if m["cycle"]:
            w("    ID_%s: %d," % (m["name"], m["cycle"]))
    w("}")
    w("# receive supervision timeouts (GenMsgTimeoutTime, else 3 cycles)")
    w("TIMEOUT_MS = {")
    for m in msgs:
        if m["timeout"]:
            w("    ID_%s: %d," % (m["name"], m["timeout"]))
    w("}")
    w("")
    w("")
    w("def message(frame_id):")
    w('    """The message table tuple (see firmware.can.codec M_* fields)."""')
    w("    return _c.lookup(MESSAGES, frame_id)")
    w("")
    w("")
    w("def encode(frame_id, values, scaling=True):")
    w('    """dict of physical values by signal name -> payload bytes (DLC long)."""')
    w("    return _c.encode(_c.lookup(MESSAGES, frame_id), values, scaling)")
    w("")
    w("")
    w("def encode_into(frame_id, values, buf, scaling=True):")
    w('    """Like encode(), into a caller-owned bytearray; returns buf."""')
    w("    return _c.encode_into(_c.lookup(MESSAGES, frame_id), values, buf, scaling)")
    w("")
    w("")
    w("def decode(frame_id, data, scaling=True):")
    w('    """payload -> dict of physical values by signal name."""')
    w("    return _c.decode_into(_c.lookup(MESSAGES, frame_id), data, {}, scaling)")
    w("")
    w("")
    w("def decode_into(frame_id, data, out, scaling=True):")
    w('    """Like decode(), into a caller-owned dict; returns out."""')
    w("    return _c.decode_into(_c.lookup(MESSAGES, frame_id), data, out, scaling)")
    return "\n".join(out) + "\n"


def _raw_bounds(sig, limit_float):
    """Raw range inside both the bit field and [min, max]; float-scaled
    signals are kept below 2**20 so single-precision devices agree too."""
    if sig.is_signed:
        lo, hi = -(1 << (sig.length - 1)), (1 << (sig.length - 1)) - 1
    else:
        lo, hi = 0, (1 << sig.length) - 1
    if sig.minimum is not None and sig.maximum is not None:
        a = (sig.minimum - sig.offset) / sig.scale
        b = (sig.maximum - sig.offset) / sig.scale
        lo = max(lo, math.ceil(min(a, b) - 1e-9))
        hi = min(hi, math.floor(max(a, b) + 1e-9))
    if limit_float and not isinstance(sig.conversion.scale, int):
        lo, hi = max(lo, -(1 << 20)), min(hi, 1 << 20)
    return lo, hi


def render_vectors(paths):
    """Golden vectors from cantools for tests/device/test_can_vectors.py:
    encode (physical values -> bytes) and decode (random payload -> values
    or an error) for every message and multiplexer page of every DBC."""
    import cantools

    enc, dec = [], []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        rnd = random.Random(zlib.crc32(stem.encode()))
        db = load_strict(path)
        for m in sorted(db.messages, key=lambda m: m.frame_id):
            mux = [s for s in m.signals if s.is_multiplexer]
            pages = sorted({i for s in m.signals for i in (s.multiplexer_ids or ())}) or [None]
            for page in pages:
                sigs = [s for s in m.signals if not s.multiplexer_ids or page in s.multiplexer_ids]
                for _ in range(VECTORS_PER_KIND):
                    values = {}
                    for s in sigs:
                        if mux and s is mux[0]:
                            values[s.name] = page
                            continue
                        lo, hi = _raw_bounds(s, True)
                        raw = rnd.randint(lo, hi)
                        if s.choices and rnd.random() < 0.5:
                            raw = rnd.choice(sorted(s.choices))
                        values[s.name] = s.conversion.raw_to_scaled(raw, False)
                    data = db.encode_message(m.frame_id, values, strict=True)
                    enc.append([stem, m.frame_id, values, data.hex()])
            for _ in range(VECTORS_PER_KIND):
                data = bytes(rnd.getrandbits(8) for _ in range(m.length))
                try:
                    values = db.decode_message(m.frame_id, data, decode_choices=False)
                except cantools.database.DecodeError:
                    values = None
                dec.append([stem, m.frame_id, data.hex(), values])
    return json.dumps({"generator": "tools/gen_can.py", "encode": enc, "decode": dec},
                      sort_keys=True, separators=(",", ":")) + "\n"


def dbc_files():
    return sorted(os.path.join(DBC_DIR, f) for f in os.listdir(DBC_DIR) if f.endswith(".dbc"))


def expected_outputs():
    """{path: text} for every generated file."""
    files = {os.path.join(OUT_DIR, "__init__.py"): INIT_TEXT}
    for p in dbc_files():
        stem = os.path.splitext(os.path.basename(p))[0]
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", stem):
            raise GenError("%s: DBC file name must be a Python identifier" % p)
        files[os.path.join(OUT_DIR, stem + ".py")] = render(p)
    files[VECTORS] = render_vectors(dbc_files())
    return files


def stale(files=None):
    """Paths that differ from what the generator would write, plus generated
    modules whose DBC no longer exists."""
    files = files if files is not None else expected_outputs()
    bad = []
    for path, text in sorted(files.items()):
        try:
            with open(path, encoding="utf-8", newline="") as f:
                if f.read() != text:
                    bad.append(path)
        except FileNotFoundError:
            bad.append(path)
    if os.path.isdir(OUT_DIR):  # (VECTORS lives elsewhere and is always expected)
        for name in sorted(os.listdir(OUT_DIR)):
            p = os.path.join(OUT_DIR, name)
            if name.endswith(".py") and p not in files:
                bad.append(p)
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = ap.parse_args(argv)
    try:
        files = expected_outputs()
    except GenError as e:
        print("gen_can: %s" % e, file=sys.stderr)
        return 2
    if args.check:
        bad = stale(files)
        for p in bad:
            print("stale: %s" % os.path.relpath(p, ROOT), file=sys.stderr)
        return 1 if bad else 0
    os.makedirs(OUT_DIR, exist_ok=True)
    for p in stale(files):
        if p in files:
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write(files[p])
            print("gen_can: wrote %s" % os.path.relpath(p, ROOT))
        else:
            os.remove(p)
            print("gen_can: removed %s" % os.path.relpath(p, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
