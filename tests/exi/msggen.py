"""Random valid messages for a schema set, drawn by walking the generated grammar tables.

`messages(schema, root=None)` is a hypothesis strategy of (root, message) in the
JSON form (binary values as text). Every first-level production of every
state is reachable, so all message types and optional parts get exercised;
wildcards and mixed text (xmldsig only) are never drawn.
"""
import base64
import string

from hypothesis import strategies as st

import firmware  # noqa: F401
from firmware.v2g.exi import codec as C
from firmware.v2g.exi import codec_for

_ALNUM = string.ascii_letters + string.digits
_TEXT_ALPHABET = _ALNUM + "éßЖ€"      # NCName-safe (also valid for xs:ID attributes)
_BUDGET = 40                           # element events per message before we steer to the end


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


class _Walker:
    def __init__(self, codec, draw, exclude, prefer=()):
        self.prefer = prefer
        self.c = codec
        self.draw = draw
        self.events = 0
        self.exclude = exclude

    def value(self, dt, allow_empty=True):
        """A valid value of datatype dt. Empty strings / binaries only where allow_empty: the peer
        treats an empty xs:ID attribute and an empty base64 list item in its own ways."""
        kind, lo, hi, ex = self.c.dtypes[dt]
        d = self.draw
        if kind == C._DT_ENUM:
            return self.c.enums[ex][d(st.integers(0, hi))]
        if kind == C._DT_BOOL:
            return d(st.booleans())
        if kind in (C._DT_NBIT, C._DT_UINT, C._DT_INT):
            lo2 = lo if lo is not None else -(1 << 64)
            hi2 = hi if hi is not None else (1 << 64)
            return d(st.one_of(st.integers(lo2, hi2), st.sampled_from(sorted({lo2, hi2, max(lo2, min(hi2, 0))}))))
        if kind == C._DT_STR:
            if not lo and allow_empty and d(st.integers(0, 7)) == 0:
                return ""
            mn = lo or 1
            mx = min(hi if hi is not None else 40, 40)
            mn = min(mn, mx)
            first = d(st.sampled_from(string.ascii_letters))
            rest = d(st.text(alphabet=_TEXT_ALPHABET, min_size=max(0, mn - 1), max_size=max(0, mx - 1)))
            return first + rest if mx > 0 else ""
        mn = lo or (0 if allow_empty else 1)
        mx = max(min(hi if hi is not None else 48, 48), mn)
        b = d(st.binary(min_size=mn, max_size=mx))
        if kind == C._DT_HEX:
            return b.hex().upper()
        return base64.b64encode(b).decode()

    def complex(self, state, depth, ename=""):
        c = self.c
        d = {}
        used = set()
        last = None
        while True:
            first, n, _w = c.state_prods(state)
            options = []
            ee = None
            for code in range(n):
                p = (first + code) * 8
                kind = c.prods[p]
                if kind == C._EE:
                    ee = code
                    continue
                if kind in (C._SE_ANY, C._CH_MIXED):
                    continue
                if kind == C._CH:
                    options.append(code)
                    continue
                name = c.names[_u16(c.prods, p + 2)]
                if name in self.exclude or ename + "." + name in self.exclude or c.prods[p + 1] & C._F_ABSTRACT:
                    continue
                if name in used and not (name == last and c.prods[p + 1] & C._F_LIST):
                    continue
                options.append(code)
            if not options and ee is None:
                raise _DeadEnd()
            pref = [o for o in options if c.prods[(first + o) * 8] != C._CH
                    and c.names[_u16(c.prods, (first + o) * 8 + 2)] in self.prefer]
            if pref:
                options = pref
                ee = None
            if ee is not None and (not options or self.events > _BUDGET or self.draw(st.integers(0, 2)) == 0):
                return d
            if self.events > _BUDGET:
                # leave loops: prefer something other than repeating the last list element
                fresh = [o for o in options if c.prods[(first + o) * 8] == C._CH
                         or c.names[_u16(c.prods, (first + o) * 8 + 2)] != last]
                code = (fresh or options)[0]
            else:
                code = self.draw(st.sampled_from(options))
            pi = first + code
            p = pi * 8
            kind = c.prods[p]
            ref = _u16(c.prods, p + 4)
            self.events += 1
            if kind == C._CH:
                d["value"] = self.value(ref, False)
                name = "value"
            else:
                name = c.names[_u16(c.prods, p + 2)]
                if kind == C._SE_C:
                    if depth > 20:
                        raise _DeadEnd()
                    val = self.complex(ref, depth + 1, name)
                else:
                    val = self.value(ref, kind == C._SE_S and not c.prods[p + 1] & C._F_LIST)
                if c.prods[p + 1] & C._F_LIST:
                    d.setdefault(name, []).append(val)
                else:
                    d[name] = val
            used.add(name)
            last = name
            state = _u16(c.prods, p + 6)
            if c.prods[p + 1] & C._F_COUNTER:
                op, v, mx, alt = c.counters[pi]
                self.cnt = v if op == 1 else self.cnt + 1
                if self.cnt >= mx:
                    state = alt


class _DeadEnd(Exception):
    pass


def root_names(schema):
    c = codec_for(schema)
    return [c.names[_u16(c.roots, i * 5 + 1)] for i in range(c.nroots)]


@st.composite
def messages(draw, schema, root, exclude=(), prefer=()):
    c = codec_for(schema)
    i = c.root_by_name[root]
    kind = c.roots[i * 5]
    ref = _u16(c.roots, i * 5 + 3)
    w = _Walker(c, draw, frozenset(exclude), frozenset(prefer))
    w.cnt = 0
    try:
        if kind == C._SE_S:
            return {root: w.value(ref)}
        return {root: w.complex(ref, 0, root)}
    except _DeadEnd:
        from hypothesis import assume
        assume(False)


def body_types(schema):
    """Message types of a DIN / ISO 15118-2 schema set: the elements allowed in V2G_Message.Body."""
    c = codec_for(schema)
    i = c.root_by_name["V2G_Message"]
    state = _u16(c.roots, i * 5 + 3)

    def prods(state):
        first, n, _w = c.state_prods(state)
        for code in range(n):
            p = (first + code) * 8
            yield c.prods[p], (c.names[_u16(c.prods, p + 2)] if c.prods[p] != C._EE else None), _u16(c.prods, p + 4)

    for kind, name, ref in prods(state):        # Header
        if name == "Header":
            break
    nxt = [_u16(c.prods, c.state_prods(state)[0] * 8 + 6)]
    for kind, name, ref in prods(nxt[0]):
        if name == "Body":
            return sorted(n for k, n, r in prods(ref) if n is not None and n != "BodyElement")
    raise AssertionError("no Body")


def message_types(schema):
    """(root, preferred body element or None) for every message type of a schema set."""
    if schema in ("din", "iso2"):
        return [("V2G_Message", t) for t in body_types(schema)]
    return [(r, None) for r in root_names(schema) if r.endswith(("Req", "Res"))]
