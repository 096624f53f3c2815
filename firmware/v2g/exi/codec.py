"""Schema-informed EXI codec engine (MicroPython and CPython, sans-IO).

Messages are plain dicts keyed by the schema's local names, e.g. for DIN:
    {"V2G_Message": {"Header": {"SessionID": b"\\x00..."}, "Body": {...}}}
Repeated elements (maxOccurs > 1) are lists; simple values are int, str
(strings and enumerations), bool, or bytes (hexBinary / base64Binary; with
text_binary=True the decoder returns them as upper-case hex / base64 text, the
form the JSON tools use, and the encoder accepts either form). The text of an
element with simple content and attributes is under the key "value".

EXI options are those V2G uses: header byte 0x80 (no options in the header),
bit-packed, schema-informed, strict=false, no fidelity options, string
tables unused (valueMaxLength = valuePartitionCapacity = 0).

A grammar module (firmware/v2g/exi/gen/*.py, made by tools/exigen) holds:
  NAMES   local names;  ENUMS  enumeration literals;  DTYPES (kind, lo, hi, enum index)
  ROOTS   5 bytes per global element: kind, name id u16, ref u16
  OFF     u16 per state: index of the state's first production (+1 end entry)
  PRODS   8 bytes per production: kind, flags (1 list, 2 counter, 4 abstract),
          name id u16, ref u16, next u16
  COUNTERS production index -> (op 1 set / 2 increment, value, max, target at max)
Productions of a state are in event-code order. Every state of an element
grammar also has second-level productions (strict=false), so a state with n
first-level productions uses n.bit_length() bits for its event code.

All decoding problems raise EXIError (a ValueError); encoding problems with
the message raise EXIError too.

Leniency (issue 11: a SECC that rejects a car's message loses the car): the
decoder accepts what the peer codec EXIficient accepts and real cars send, and
lists each deviation in `codec.warnings` (reset by every decode) instead of
failing:
  * up to 16 bytes after the end of the document (every Tesla sends one DIN
    request with one extra byte); more is an error;
  * an n-bit integer above its schema facet (one car sends an integer outside its
    facet; EXIficient returns the value as decoded, so do we).
`Codec.strict = True` turns both back into errors. Encoding is always strict.
"""
from micropython import const
import binascii

_SE_C = const(0)
_SE_S = const(1)
_EE = const(2)
_AT = const(3)
_CH = const(4)
_SE_ANY = const(5)
_CH_MIXED = const(6)

_DT_BOOL = const(0)
_DT_HEX = const(1)
_DT_B64 = const(2)
_DT_STR = const(3)
_DT_NBIT = const(4)
_DT_UINT = const(5)
_DT_INT = const(6)
_DT_ENUM = const(7)

_F_LIST = const(1)
_F_COUNTER = const(2)
_F_ABSTRACT = const(4)   # abstract element, or element of an abstract type: needs xsi:type

_MAX_DEPTH = const(24)
_MAX_UINT_OCTETS = const(12)   # 84 bits: unsignedLong / long magnitudes with room to spare
_MAX_EVENTS = const(20000)
_MAX_TRAILING = const(16)       # lenient about a few stray bytes after the document, not about a stream


class EXIError(ValueError):
    pass


def _bitlen(n):
    """int.bit_length() (absent in MicroPython)."""
    b = 0
    while n:
        n >>= 1
        b += 1
    return b


# event code width for n first-level productions: ceil(log2(n + 1)) = bit length of n
_WIDTH = bytes([_bitlen(i) for i in range(256)])


class BitWriter:
    def __init__(self, size=256):
        self.buf = bytearray(size)
        self.pos = 0        # bytes completed
        self.acc = 0
        self.n = 0          # bits pending in acc

    def reset(self):
        self.pos = 0
        self.acc = 0
        self.n = 0

    def bits(self, v, n):
        acc = (self.acc << n) | v
        n += self.n
        buf = self.buf
        while n >= 8:
            n -= 8
            if self.pos >= len(buf):
                buf.extend(bytes(len(buf)))
            buf[self.pos] = (acc >> n) & 0xFF
            self.pos += 1
        self.acc = acc & ((1 << n) - 1)
        self.n = n

    def uint(self, v):
        while v >= 0x80:
            self.bits(0x80 | (v & 0x7F), 8)
            v >>= 7
        self.bits(v, 8)

    def getvalue(self):
        if self.n:
            self.bits(0, 8 - self.n)
        return bytes(self.buf[:self.pos])


class BitReader:
    def __init__(self, data):
        self.end = len(data) * 8
        self.data = bytes(data) + b"\x00\x00"   # padding lets bits() read two bytes at once
        self.pos = 0

    def bits(self, n):
        pos = self.pos
        if pos + n > self.end:
            raise EXIError("truncated EXI stream")
        data = self.data
        if n <= 9:
            i = pos >> 3
            self.pos = pos + n
            return (((data[i] << 8) | data[i + 1]) >> (16 - (pos & 7) - n)) & ((1 << n) - 1)
        v = 0
        while n:
            off = pos & 7
            take = 8 - off
            if take > n:
                take = n
            v = (v << take) | ((data[pos >> 3] >> (8 - off - take)) & ((1 << take) - 1))
            pos += take
            n -= take
        self.pos = pos
        return v

    def uint(self):
        v = 0
        shift = 0
        for _ in range(_MAX_UINT_OCTETS):
            b = self.bits(8)
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7
        raise EXIError("unsigned integer too long")

    def left(self):
        return self.end - self.pos


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


class Codec:
    """Encoder/decoder for one grammar module (one schema set)."""

    def __init__(self, g):
        self.g = g
        self.names = g.NAMES
        self.enums = g.ENUMS
        self.dtypes = g.DTYPES
        self.off = g.OFF
        self.prods = g.PRODS
        self.counters = g.COUNTERS
        roots = g.ROOTS
        self.nroots = len(roots) // 5
        self.root_by_name = {}
        for i in range(self.nroots):
            self.root_by_name[g.NAMES[_u16(roots, i * 5 + 1)]] = i
        self.roots = roots
        self.w = BitWriter()
        self.text_binary = False
        self.strict = False
        self.warnings = []
        # bits of an n-bit integer, enumeration or boolean value, per datatype (0 for other kinds)
        dtw = []
        for kind, lo, hi, _ex in self.dtypes:
            dtw.append(_bitlen(hi - lo) if kind == _DT_NBIT or kind == _DT_ENUM else 1 if kind == _DT_BOOL else 0)
        self.dtw = dtw

    # ------------------------------------------------------------------ decode
    def decode(self, data, text_binary=False):
        """EXI bytes -> {root_name: content}. Raises EXIError on any bad input."""
        self.text_binary = text_binary
        self.warnings = []
        try:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise EXIError("EXI input must be bytes")
            r = BitReader(data)
            if r.left() < 8 or r.bits(8) != 0x80:
                raise EXIError("not an EXI stream with the V2G header (0x80)")
            self.events = 0
            code = r.bits(_bitlen(self.nroots))
            if code >= self.nroots:
                raise EXIError("unknown or untyped root element (SE(*))")
            roots = self.roots
            o = code * 5
            kind = roots[o]
            name = self.names[_u16(roots, o + 1)]
            ref = _u16(roots, o + 3)
            if kind == _SE_S:
                val = self._dec_simple_elem(r, ref)
            else:
                val = self._dec_complex(r, ref, 0)
            # the remaining bits are padding of the last byte
            if r.left() >= 8:
                n = r.left() // 8
                if n > _MAX_TRAILING:
                    raise EXIError("trailing data after end of document (%d bytes)" % n)
                self._lenient("trailing data after end of document (%d bytes)" % n)
            return {name: val}
        except EXIError:
            raise
        except MemoryError:
            raise EXIError("EXI stream needs too much memory")
        except Exception as e:  # any internal slip on bad input is still a decode error
            raise EXIError("malformed EXI stream (%s)" % type(e).__name__)

    def _lenient(self, what):
        """A deviation EXIficient accepts: an error when strict, else a warning."""
        if self.strict:
            raise EXIError(what)
        self.warnings.append(what)

    def _dec_simple_slow(self, r, dt, v, w):
        """Fast path did not apply (escape or trailing event not EE): redo it bit by bit."""
        r.pos -= w + 2
        return self._dec_simple_elem(r, dt)

    def _dec_simple_elem(self, r, dt):
        if r.bits(1):
            # second level (6 productions, 3 bits): only EE (code 0) is supported; it is how
            # EXIficient writes an empty value (no CH event at all)
            if r.bits(3) != 0:
                raise EXIError("unsupported deviation in simple element (xsi:type/xsi:nil/untyped)")
            return self._empty(dt)
        v = self._dec_value(r, dt)
        if r.bits(1):
            raise EXIError("unexpected content after simple value")
        return v

    def _dec_complex(self, r, state, depth):
        if depth > _MAX_DEPTH:
            raise EXIError("elements nested too deeply")
        off = self.off
        prods = self.prods
        names = self.names
        d = {}
        cnt = 0
        while True:
            self.events += 1
            if self.events > _MAX_EVENTS:
                raise EXIError("too many events")
            first = (off[state * 2] | off[state * 2 + 1] << 8)
            n = (off[state * 2 + 2] | off[state * 2 + 2 + 1] << 8) - first
            code = r.bits(_WIDTH[n])
            if code >= n:
                return self._dec_escape(r, d, first, n)
            pi = first + code
            p = pi * 8
            kind = prods[p]
            if kind == _EE:
                return d
            flags = prods[p + 1]
            ref = (prods[p + 4] | prods[p + 4 + 1] << 8)
            if kind == _SE_C:
                val = self._dec_complex(r, ref, depth + 1)
            elif kind == _SE_S:
                kind = self.dtypes[ref][0]
                if kind == _DT_NBIT or kind == _DT_ENUM or kind == _DT_BOOL:
                    # CH (code 0), the value and EE (code 0) in one read
                    w = self.dtw[ref]
                    v = r.bits(w + 2)
                    if v & 1 or v >> (w + 1):
                        val = self._dec_simple_slow(r, ref, v, w)
                    else:
                        v >>= 1
                        if kind == _DT_NBIT:
                            val = self.dtypes[ref][1] + v
                            if val > self.dtypes[ref][2]:
                                self._lenient("integer out of range (%d above %d)" % (val, self.dtypes[ref][2]))
                        elif kind == _DT_ENUM:
                            vals = self.enums[self.dtypes[ref][3]]
                            if v >= len(vals):
                                raise EXIError("enumeration index out of range")
                            val = vals[v]
                        else:
                            val = v == 1
                else:
                    val = self._dec_simple_elem(r, ref)
            elif kind == _AT:
                val = self._dec_value(r, ref)
            elif kind == _CH:
                d["value"] = self._dec_value(r, ref)
                state = (prods[p + 6] | prods[p + 6 + 1] << 8)
                continue
            elif kind == _CH_MIXED:
                self._dec_string(r, None, None)   # untyped text in mixed content: dropped
                state = (prods[p + 6] | prods[p + 6 + 1] << 8)
                continue
            else:
                raise EXIError("wildcard elements are not supported")
            name = names[(prods[p + 2] | prods[p + 2 + 1] << 8)]
            if flags & _F_LIST:
                lst = d.get(name)
                if lst is None:
                    d[name] = [val]
                else:
                    lst.append(val)
            else:
                d[name] = val
            state = (prods[p + 6] | prods[p + 6 + 1] << 8)
            if flags & _F_COUNTER:
                op, v, mx, alt = self.counters[pi]
                cnt = v if op == 1 else cnt + 1
                if cnt >= mx:
                    state = alt

    def _dec_escape(self, r, d, first, n):
        """Second-level event: only EE in simple content is supported (an empty value)."""
        prods = self.prods
        for code in range(n):
            p = (first + code) * 8
            if prods[p] == _CH:
                if r.bits((prods[p + 1] >> 3) & 3) == 0:
                    d["value"] = self._empty(_u16(prods, p + 4))
                    return d
                break
        raise EXIError("unsupported second-level event (schema deviation) in EXI stream")

    def _empty(self, dt):
        kind = self.dtypes[dt][0]
        if kind == _DT_STR or kind == _DT_HEX and self.text_binary or kind == _DT_B64 and self.text_binary:
            return ""
        if kind == _DT_HEX or kind == _DT_B64:
            return b""
        raise EXIError("empty value for a %s" % ("boolean" if kind == _DT_BOOL else "number"))

    def _dec_string(self, r, lo, hi):
        n = r.uint()
        if n < 2:
            raise EXIError("string table hit, but string tables are not used")
        n -= 2
        if hi is not None and n > hi:
            raise EXIError("string length %d above maxLength %d" % (n, hi))
        if n * 8 > r.left():
            raise EXIError("truncated EXI stream")
        chars = []
        for _ in range(n):
            c = r.uint()
            if c > 0x10FFFF or 0xD800 <= c <= 0xDFFF:
                raise EXIError("invalid character")
            chars.append(chr(c))
        return "".join(chars)

    def _dec_value(self, r, dt):
        kind, lo, hi, ex = self.dtypes[dt]
        if kind == _DT_NBIT:
            v = lo + r.bits(_bitlen(hi - lo))
            if v > hi:
                self._lenient("integer out of range (%d above %d)" % (v, hi))
            return v
        if kind == _DT_ENUM:
            v = r.bits(_bitlen(hi))
            if v > hi:
                raise EXIError("enumeration index out of range")
            return self.enums[ex][v]
        if kind == _DT_UINT:
            v = r.uint()
        elif kind == _DT_INT:
            neg = r.bits(1)
            v = r.uint()
            if neg:
                v = -v - 1
        elif kind == _DT_BOOL:
            return r.bits(1) == 1
        elif kind == _DT_STR:
            return self._dec_string(r, lo, hi)
        else:   # binary
            n = r.uint()
            if hi is not None and n > hi:
                raise EXIError("binary length %d above maxLength %d" % (n, hi))
            if n * 8 > r.left():
                raise EXIError("truncated EXI stream")
            b = bytearray(n)
            for i in range(n):
                b[i] = r.bits(8)
            b = bytes(b)
            if self.text_binary:
                if kind == _DT_HEX:
                    return binascii.hexlify(b).decode().upper()
                return binascii.b2a_base64(b).decode().strip()
            return b
        if lo is not None and v < lo or hi is not None and v > hi:
            raise EXIError("integer out of range")
        return v

    # ------------------------------------------------------------------ encode
    def encode(self, msg):
        """{root_name: content} -> EXI bytes. Raises EXIError if msg does not fit the schema."""
        if not isinstance(msg, dict) or len(msg) != 1:
            raise EXIError("message must be a dict with exactly one root element")
        for name in msg:
            pass
        i = self.root_by_name.get(name)
        if i is None:
            raise EXIError("unknown root element %r" % name)
        w = self.w
        w.reset()
        w.bits(0x80, 8)
        w.bits(i, _bitlen(self.nroots))
        roots = self.roots
        kind = roots[i * 5]
        ref = _u16(roots, i * 5 + 3)
        try:
            if kind == _SE_S:
                self._enc_simple_elem(w, ref, msg[name], name)
            else:
                self._enc_complex(w, ref, msg[name], name, 0)
        except EXIError:
            raise
        except MemoryError:
            raise EXIError("message needs too much memory")
        except Exception as e:  # e.g. RuntimeError on recursion (MicroPython has no RecursionError)
            raise EXIError("invalid message (%s: %s)" % (type(e).__name__, e))
        return w.getvalue()

    def _enc_simple_elem(self, w, dt, v, name):
        kind, lo, hi, ex = self.dtypes[dt]
        if kind == _DT_NBIT:
            if isinstance(v, int) and v is not True and v is not False and lo <= v <= hi:
                w.bits((v - lo) << 1, self.dtw[dt] + 2)   # CH (0), value, EE (0)
                return
        elif kind == _DT_ENUM:
            vals = self.enums[ex]
            if v in vals:
                w.bits(vals.index(v) << 1, self.dtw[dt] + 2)
                return
        elif kind == _DT_BOOL:
            if v is True or v is False:
                w.bits(2 if v else 0, 3)
                return
        if (v == "" or v == b"") and self.dtypes[dt][0] in (_DT_STR, _DT_HEX, _DT_B64):
            lo = self.dtypes[dt][1]
            if lo:
                raise EXIError("%s: empty value, minLength is %d" % (name, lo))
            # like EXIficient: no CH event for an empty value, EE at the second level
            w.bits(1, 1)
            w.bits(0, 3)
            return
        w.bits(0, 1)
        self._enc_value(w, dt, v, name)
        w.bits(0, 1)

    def _enc_complex(self, w, state, d, path, depth):
        if not isinstance(d, dict):
            raise EXIError("%s: expected an object" % path)
        if depth > _MAX_DEPTH:
            raise EXIError("%s: nested too deeply" % path)
        off = self.off
        prods = self.prods
        names = self.names
        used = 0
        pos = None      # list name -> next index
        cnt = 0
        while True:
            first = (off[state * 2] | off[state * 2 + 1] << 8)
            n = (off[state * 2 + 2] | off[state * 2 + 2 + 1] << 8) - first
            width = _WIDTH[n]
            ee = -1
            chosen = -1
            val = None
            for code in range(n):
                p = (first + code) * 8
                kind = prods[p]
                if kind == _EE:
                    ee = code
                    continue
                if kind == _CH:
                    if "value" in d:
                        chosen = code
                        break
                    continue
                if kind == _SE_ANY or kind == _CH_MIXED:
                    continue
                name = names[(prods[p + 2] | prods[p + 2 + 1] << 8)]
                if name in d:
                    val = d[name]
                    if prods[p + 1] & _F_LIST:
                        if not isinstance(val, list):
                            raise EXIError("%s.%s: expected a list" % (path, name))
                        if pos is None:
                            pos = {}
                        k = pos.get(name, 0)
                        if k >= len(val):
                            continue
                        pos[name] = k + 1
                        if k + 1 == len(val):
                            used += 1
                        val = val[k]
                    else:
                        if pos is not None and name in pos:
                            continue
                        if pos is None:
                            pos = {}
                        pos[name] = 1
                        used += 1
                    chosen = code
                    break
            if chosen >= 0 and prods[(first + chosen) * 8] == _CH and self._is_empty(first + chosen, d["value"]):
                # an empty value of simple content: no CH event, EE at the second level (as EXIficient)
                w.bits(n, width)
                w.bits(0, (prods[(first + chosen) * 8 + 1] >> 3) & 3)
                used += 1
                if pos is None:
                    pos = {}
                pos["value"] = 1
                chosen = -1
                ee = -2
            if chosen < 0:
                if ee == -2:
                    pass
                elif ee < 0:
                    raise EXIError("%s: missing required content (expected %s)" % (path, self._expected(state)))
                else:
                    w.bits(ee, width)
                if used != len(d):
                    for k in d:
                        if pos is None or k not in pos:
                            if d[k] == []:
                                continue    # an empty list is an absent repeated element
                            raise EXIError("%s: unexpected field %r" % (path, k))
                        v = d[k]
                        if isinstance(v, list) and pos[k] < len(v):
                            raise EXIError("%s: too many %s items or items out of order" % (path, k))
                return
            w.bits(chosen, width)
            pi = first + chosen
            p = pi * 8
            kind = prods[p]
            if prods[p + 1] & _F_ABSTRACT:
                raise EXIError("%s: %s is abstract (use a concrete substitute)" % (path, names[(prods[p + 2] | prods[p + 2 + 1] << 8)]))
            ref = (prods[p + 4] | prods[p + 4 + 1] << 8)
            if kind == _SE_C:
                self._enc_complex(w, ref, val, path + "." + names[(prods[p + 2] | prods[p + 2 + 1] << 8)], depth + 1)
            elif kind == _SE_S:
                self._enc_simple_elem(w, ref, val, names[(prods[p + 2] | prods[p + 2 + 1] << 8)])
            elif kind == _AT:
                self._enc_value(w, ref, val, names[(prods[p + 2] | prods[p + 2 + 1] << 8)])
            else:   # _CH
                self._enc_value(w, ref, d["value"], path)
                used += 1
                if pos is None:
                    pos = {}
                pos["value"] = 1
            state = (prods[p + 6] | prods[p + 6 + 1] << 8)
            if prods[p + 1] & _F_COUNTER:
                op, v, mx, alt = self.counters[pi]
                cnt = v if op == 1 else cnt + 1
                if cnt >= mx:
                    state = alt

    def _is_empty(self, pi, v):
        if v != "" and v != b"":
            return False
        dt = self.dtypes[_u16(self.prods, pi * 8 + 4)]
        if dt[1]:
            raise EXIError("value: empty, minLength is %d" % dt[1])
        return dt[0] in (_DT_STR, _DT_HEX, _DT_B64)

    def state_prods(self, state):
        """(index of the first production, number of productions, event code width) of a state."""
        first = _u16(self.off, state * 2)
        n = _u16(self.off, state * 2 + 2) - first
        return first, n, _WIDTH[n]

    def _expected(self, state):
        first, n, _w = self.state_prods(state)
        out = []
        for code in range(n):
            p = (first + code) * 8
            k = self.prods[p]
            if k in (_SE_C, _SE_S, _AT):
                out.append(self.names[_u16(self.prods, p + 2)])
            elif k == _CH:
                out.append("value")
        return " or ".join(out) or "?"

    def _enc_value(self, w, dt, v, name):
        kind, lo, hi, ex = self.dtypes[dt]
        if kind == _DT_ENUM:
            vals = self.enums[ex]
            try:
                i = vals.index(v)
            except ValueError:
                raise EXIError("%s: %r is not one of the allowed values" % (name, v))
            w.bits(i, _bitlen(hi))
            return
        if kind == _DT_BOOL:
            if v is not True and v is not False:
                raise EXIError("%s: expected a boolean" % name)
            w.bits(1 if v else 0, 1)
            return
        if kind == _DT_STR:
            if not isinstance(v, str):
                raise EXIError("%s: expected a string" % name)
            n = len(v)
            if hi is not None and n > hi or lo is not None and n < lo:
                raise EXIError("%s: string length %d outside %s..%s" % (name, n, lo, hi))
            w.uint(n + 2)
            for c in v:
                w.uint(ord(c))
            return
        if kind == _DT_HEX or kind == _DT_B64:
            if isinstance(v, str):
                try:
                    if kind == _DT_HEX:
                        v = binascii.unhexlify(v)
                    else:
                        v = binascii.a2b_base64(v)
                except Exception:
                    raise EXIError("%s: bad %s text" % (name, "hex" if kind == _DT_HEX else "base64"))
            elif not isinstance(v, (bytes, bytearray)):
                raise EXIError("%s: expected bytes" % name)
            n = len(v)
            if hi is not None and n > hi or lo is not None and n < lo:
                raise EXIError("%s: binary length %d outside %s..%s" % (name, n, lo, hi))
            w.uint(n)
            for b in v:
                w.bits(b, 8)
            return
        # integers
        if not isinstance(v, int) or v is True or v is False:
            raise EXIError("%s: expected an integer" % name)
        if lo is not None and v < lo or hi is not None and v > hi:
            raise EXIError("%s: %d outside %s..%s" % (name, v, lo, hi))
        if kind == _DT_NBIT:
            if lo is None or hi is None:  # n-bit integers are bounded by construction
                raise EXIError("%s: n-bit integer without bounds in the grammar" % name)
            w.bits(v - lo, _bitlen(hi - lo))
        elif kind == _DT_UINT:
            w.uint(v)
        else:
            if v < 0:
                w.bits(1, 1)
                w.uint(-v - 1)
            else:
                w.bits(0, 1)
                w.uint(v)
