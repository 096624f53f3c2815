"""Fast host-side frame decoder built from the project's DBCs.

cantools is the reference, but its generic decode path (bitstruct formats,
per-signal conversion objects, choice lookups) costs tens of microseconds a
frame. For logs of millions of frames this module compiles, once, one plain
Python function per message from cantools' own parsed database: the payload
becomes one integer and every signal is a shift, a mask and the same
`raw * scale + offset` expression cantools evaluates, so results are
identical (tests/can/test_host_decoder.py checks them against cantools).

    dec = HostDecoder.from_dbcs(["chademo"])      # or HostDecoder(cantools_db)
    dec.decode(0x102, data)                       # -> {signal: value}
    dec.decode(0x102, data, choices=True)         # enum names as str
"""
import os

import cantools

from host_tools import dbcs


class DecodeError(ValueError):
    pass


def _signal_expr(sig, length):
    """Python expression for the raw value of `sig` from the payload read as
    one integer: `le` (little-endian) or `be` (big-endian)."""
    n = sig.length
    if sig.byte_order == "little_endian":
        src, shift = "le", sig.start
        top = shift + n == length * 8  # nothing above the field: no mask
    else:
        msb = (sig.start // 8) * 8 + (7 - sig.start % 8)  # MSB-first position
        src, shift = "be", length * 8 - msb - n
        top = msb == 0
    e = "(%s >> %d)" % (src, shift) if shift else src
    if not top:
        e = "(%s & 0x%X)" % (e, (1 << n) - 1)
    return e


def _compile_message(msg, index):
    """Source of `def _d<index>(data, choices)` for one message."""
    L = msg.length
    uses_be = any(s.byte_order == "big_endian" for s in msg.signals)
    uses_le = any(s.byte_order == "little_endian" for s in msg.signals)
    lines = ["def _d%d(data, choices):" % index,
             "    if len(data) != %d:" % L,
             "        if len(data) < %d:" % L,
             "            raise DecodeError('%s: %%d data bytes, need %d' %% len(data))" % (msg.name, L),
             "        data = data[:%d]" % L]
    if uses_le:
        lines.append("    le = _from_bytes(data, 'little')")
    if uses_be:
        lines.append("    be = _from_bytes(data, 'big')")
    consts = {}

    def conv(sig, var):
        """Statements turning raw `var` into the physical value, cantools-exact."""
        out = []
        n = sig.length
        if sig.is_signed:
            out.append("    if %s & 0x%X: %s -= 0x%X" % (var, 1 << (n - 1), var, 1 << n))
        c = sig.conversion
        scale, offset = c.scale, c.offset
        if not (scale == 1 and offset == 0 and type(scale) is int and type(offset) is int):
            ks, ko = "_k%d_%d" % (index, len(consts)), "_k%d_%d" % (index, len(consts) + 1)
            consts[ks], consts[ko] = scale, offset
            out.append("    %s = %s * %s + %s" % (var, var, ks, ko))
        return out

    def emit(sigs, indent):
        body = []
        names = []
        for s in sigs:
            v = "v%d" % len(names)
            body.append("    %s = %s" % (v, _signal_expr(s, L)))
            if s.choices:
                kc = "_k%d_%d" % (index, len(consts))
                consts[kc] = {int(k): v2 for k, v2 in s.choices.items()}
                raw = "r%d" % len(names)
                body.append("    %s = %s" % (raw, v))
                body.extend(conv(s, v))
                body.append("    if choices and %s in %s: %s = %s[%s]" % (raw, kc, v, kc, raw))
            else:
                body.extend(conv(s, v))
            names.append((s.name, v))
        return [indent + b for b in body], names

    plain = [s for s in msg.signals if not s.multiplexer_ids]
    body, names = emit(plain, "")
    lines.extend(body)
    lines.append("    out = {%s}" % ", ".join("%r: %s" % (n, v) for n, v in names))
    muxers = [s for s in msg.signals if s.is_multiplexer]
    if muxers:
        if len(muxers) != 1:
            raise ValueError("%s: only simple multiplexing is supported" % msg.name)
        mux = muxers[0]
        muxvar = dict(names)[mux.name]
        raw_mux = "r%d" % [n for n, _ in names].index(mux.name) if mux.choices else muxvar
        groups = {}
        for s in msg.signals:
            for i in s.multiplexer_ids or ():
                groups.setdefault(i, []).append(s)
        first = True
        for mid in sorted(groups):
            lines.append("    %s %s == %d:" % ("if" if first else "elif", raw_mux, mid))
            first = False
            gbody, gnames = emit(groups[mid], "    ")
            lines.extend(gbody)
            lines.extend("        out[%r] = %s" % (n, v) for n, v in gnames)
        lines.append("    else:")
        lines.append("        raise DecodeError('%s: multiplexer %s=%%r selects no signals' %% (%s,))"
                     % (msg.name, mux.name, raw_mux))
    lines.append("    return out")
    return "\n".join(lines), consts


def _inline_value(sig, length, index, consts):
    """Single expression for the physical value (no value-table lookup)."""
    e = _signal_expr(sig, length)
    if sig.is_signed:
        half = 1 << (sig.length - 1)
        e = "((%s ^ 0x%X) - 0x%X)" % (e, half, half)  # two's complement sign extension
    c = sig.conversion
    if not (c.scale == 1 and c.offset == 0 and type(c.scale) is int and type(c.offset) is int):
        ks, ko = "_f%d_%d" % (index, len(consts)), "_f%d_%d" % (index, len(consts) + 1)
        consts[ks], consts[ko] = c.scale, c.offset
        e = "%s * %s + %s" % (e, ks, ko)
    return e


def _compile_fast(msg, index):
    """Source of `def _f<index>(data)`: one return of a dict display (plus
    one branch per multiplexer value), no value-table lookups."""
    L = msg.length
    consts = {}
    lines = ["def _f%d(data):" % index,
             "    if len(data) != %d:" % L,
             "        if len(data) < %d:" % L,
             "            raise DecodeError('%s: %%d data bytes, need %d' %% len(data))" % (msg.name, L),
             "        data = data[:%d]" % L]
    if any(s.byte_order == "little_endian" for s in msg.signals):
        lines.append("    le = _from_bytes(data, 'little')")
    if any(s.byte_order == "big_endian" for s in msg.signals):
        lines.append("    be = _from_bytes(data, 'big')")
    plain = [s for s in msg.signals if not s.multiplexer_ids]
    items = ["%r: %s" % (s.name, _inline_value(s, L, index, consts)) for s in plain]
    muxers = [s for s in msg.signals if s.is_multiplexer]
    if not muxers:
        lines.append("    return {%s}" % ", ".join(items))
        return "\n".join(lines), consts
    mux = muxers[0]
    lines.append("    m = %s" % _signal_expr(mux, L))
    groups = {}
    for s in msg.signals:
        for i in s.multiplexer_ids or ():
            groups.setdefault(i, []).append(s)
    for k, mid in enumerate(sorted(groups)):
        extra = ["%r: %s" % (s.name, _inline_value(s, L, index, consts)) for s in groups[mid]]
        lines.append("    %s m == %d:" % ("if" if k == 0 else "elif", mid))
        lines.append("        return {%s}" % ", ".join(items + extra))
    lines.append("    raise DecodeError('%s: multiplexer %s=%%r selects no signals' %% (m,))" % (msg.name, mux.name))
    return "\n".join(lines), consts


class HostDecoder:
    def __init__(self, db):
        self.db = db
        self._fns = {}
        self.names = {}
        src = []
        env = {"_from_bytes": int.from_bytes, "DecodeError": DecodeError}
        msgs = sorted(db.messages, key=lambda m: m.frame_id)
        for i, m in enumerate(msgs):
            for code, consts in (_compile_message(m, i), _compile_fast(m, i)):
                env.update(consts)  # names carry the message index: no clashes
                src.append(code)
            self.names[m.frame_id] = m.name
        self.source = "\n\n".join(src) + "\n"
        exec(compile(self.source, "<host_decoder>", "exec"), env)
        self._fast = {}
        for i, m in enumerate(msgs):
            self._fns[m.frame_id] = env["_d%d" % i]
            self._fast[m.frame_id] = env["_f%d" % i]

    @classmethod
    def from_dbcs(cls, names=None):
        return cls(dbcs.load_many(names))

    @classmethod
    def from_paths(cls, paths):
        db = cantools.database.Database()
        for p in paths:
            db.add_dbc_file(os.fspath(p))
        return cls(db)

    def knows(self, frame_id):
        return frame_id in self._fns

    def decode(self, frame_id, data, choices=False):
        """{signal: physical value}; KeyError for an unknown id, DecodeError
        for short data or an undefined multiplexer value."""
        if choices:
            return self._fns[frame_id](data, True)
        return self._fast[frame_id](data)

    def functions(self):
        """{frame_id: fn(data)} of the compiled decoders without value-table
        lookups, for tight loops."""
        return dict(self._fast)

    def decode_frames(self, frames, choices=False):
        """Decode an iterable of (frame_id, data); yields (frame_id, dict or
        None) - None for unknown ids and undecodable payloads."""
        fns = self._fns if choices else self._fast
        for fid, data in frames:
            fn = fns.get(fid)
            if fn is None:
                yield fid, None
                continue
            try:
                yield fid, (fn(data, True) if choices else fn(data))
            except DecodeError:
                yield fid, None
