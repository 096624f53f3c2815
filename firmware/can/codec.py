"""Table-driven CAN signal codec (runtime for the modules in firmware/can/gen/).

The generated modules hold only data: one tuple per message, one tuple per
signal. The bit layout of every signal is pre-resolved by the generator into
"segments", one per payload byte the signal touches:

    (byte_index, shift_in_byte, mask, shift_in_raw)

so little-endian (Intel) and big-endian (Motorola) signals are handled by
the same two loops, and signals up to 30 bits never leave MicroPython's
small-int range (no heap allocation while packing or unpacking them).

Semantics follow cantools 45.1 (the reference the property tests compare
against, byte for byte):
  * encode: raw = round((phys - offset) / scale); with integral scale and
    offset, divmod first so exact integers do not lose precision;
    round() is round-half-to-even on both interpreters;
  * range check on the physical value against [min, max] with a tolerance of
    |scale| * 1e-6, skipped when the raw value is in the value table;
  * the raw value must also fit its bit field: nothing ever wraps silently;
  * decode: phys = raw * scale + offset (an int when scale and offset are
    ints); payloads longer than the DLC are accepted, shorter ones are not;
  * simple multiplexing: one multiplexer signal per message (unsigned,
    scale 1, offset 0, so its raw and physical values are the same).

MicroPython notes: no int.from_bytes(signed=...) is used; sign extension is
done by hand. Floats are single precision on the STM32 port, so scaled
values with more than ~7 significant digits lose precision there; pass
raw integers with scaling=False when that matters (e.g. uptime counters).
"""
from micropython import const

# message tuple fields
MSG_NAME = const(0)
MSG_ID = const(1)
MSG_DLC = const(2)
MSG_EXT = const(3)
MSG_CYCLE = const(4)
MSG_TIMEOUT = const(5)
MSG_SENDER = const(6)
MSG_MUX = const(7)      # index of the multiplexer signal in MSG_SIGS, or -1
MSG_SIGS = const(8)
MSG_MUXVALS = const(9)  # tuple of multiplexer values that select signals (or ())

# signal tuple fields
SIG_NAME = const(0)
SIG_SEGS = const(1)
SIG_BITS = const(2)
SIG_SIGNED = const(3)
SIG_SCALE = const(4)
SIG_OFFSET = const(5)
SIG_MIN = const(6)      # physical minimum or None
SIG_MAX = const(7)      # physical maximum or None
SIG_MUXIDS = const(8)   # None (always present) or tuple of multiplexer values
SIG_CHOICES = const(9)  # None or tuple of (raw, name) pairs


class CodecError(ValueError):
    """Unknown frame id, missing/unknown signal, value out of range, short data."""


def lookup(messages, frame_id):
    try:
        return messages[frame_id]
    except KeyError:
        raise CodecError("unknown frame id 0x%X" % frame_id)


def choice_raw(sig, name):
    ch = sig[SIG_CHOICES]
    if ch:
        for raw, n in ch:
            if n == name:
                return raw
    raise CodecError("signal %s has no value named %r" % (sig[SIG_NAME], name))


def choice_name(sig, raw):
    """Name of a raw value in the signal's value table, or None."""
    ch = sig[SIG_CHOICES]
    if ch:
        for r, n in ch:
            if r == raw:
                return n
    return None


def _in_choices(ch, raw):
    for r, _n in ch:
        if r == raw:
            return True
    return False


def to_raw(msg, sig, value, scaling=True):
    """Physical (or raw, scaling=False) value -> checked raw integer."""
    if isinstance(value, str):
        return choice_raw(sig, value)
    scale = sig[SIG_SCALE]
    offset = sig[SIG_OFFSET]
    if scaling:
        phys = value
        v = value - offset
        if isinstance(scale, int) and isinstance(offset, int):
            # cantools: divmod first, so exact multiples stay exact (no tuple here)
            if scale == 1:
                raw = v if isinstance(v, int) else round(v)
            elif v % scale == 0:
                raw = round(v // scale)
            else:
                raw = round(v / scale)
        else:
            raw = round(v / scale)
    else:
        raw = round(value)
        phys = raw * scale + offset
    mn = sig[SIG_MIN]
    mx = sig[SIG_MAX]
    if (mn is not None and phys < mn) or (mx is not None and phys > mx):
        # rare path: apply the |scale| * 1e-6 tolerance, then the value-table
        # exemption (cantools skips the range check for table entries)
        tol = abs(scale) * 1e-6
        low = mn is not None and phys < mn - tol
        if low or (mx is not None and phys > mx + tol):
            ch = sig[SIG_CHOICES]
            if not (ch and _in_choices(ch, raw)):
                raise CodecError("%s.%s = %r is %s its %s %r" % (
                    msg[MSG_NAME], sig[SIG_NAME], value, "below" if low else "above",
                    "minimum" if low else "maximum", mn if low else mx))
    bits = sig[SIG_BITS]
    if sig[SIG_SIGNED]:
        lim = 1 << (bits - 1)
        if raw < -lim or raw >= lim:
            raise CodecError("%s.%s = %r does not fit a signed %d-bit field"
                             % (msg[MSG_NAME], sig[SIG_NAME], value, bits))
        if raw < 0:
            raw += lim << 1
    elif raw < 0 or raw >> bits:
        raise CodecError("%s.%s = %r does not fit an unsigned %d-bit field"
                         % (msg[MSG_NAME], sig[SIG_NAME], value, bits))
    return raw


def from_raw(sig, raw, scaling=True):
    if sig[SIG_SIGNED] and raw >> (sig[SIG_BITS] - 1):
        raw -= 1 << sig[SIG_BITS]
    if scaling:
        return raw * sig[SIG_SCALE] + sig[SIG_OFFSET]
    return raw


def put_raw(buf, segs, raw):
    """Insert a raw field: clears its bits in each byte, then sets them."""
    for b, sh, m, d in segs:
        buf[b] = (buf[b] & ~(m << sh)) | (((raw >> d) & m) << sh)


def get_raw(data, segs):
    raw = 0
    for b, sh, m, d in segs:
        raw |= ((data[b] >> sh) & m) << d
    return raw


def _active(msg, mux_value):
    """Signals present for this multiplexer value (all, if not multiplexed)."""
    if msg[MSG_MUX] < 0:
        return msg[MSG_SIGS]
    out = []
    for sig in msg[MSG_SIGS]:
        ids = sig[SIG_MUXIDS]
        if ids is None or mux_value in ids:
            out.append(sig)
    return out


def encode_into(msg, values, buf, scaling=True):
    """Pack `values` (dict signal -> value) into `buf` (bytearray >= DLC).

    Bits not covered by a signal are written as 0. Every signal the frame
    needs must be given, and no other: a typo is an error, not a no-op.
    """
    dlc = msg[MSG_DLC]
    if len(buf) < dlc:
        raise CodecError("%s: buffer of %d bytes, need %d" % (msg[MSG_NAME], len(buf), dlc))
    for i in range(dlc):
        buf[i] = 0
    sigs = msg[MSG_SIGS]
    mi = msg[MSG_MUX]
    if mi >= 0:
        msig = sigs[mi]
        try:
            mval = values[msig[SIG_NAME]]
        except KeyError:
            raise CodecError("%s: missing signal %s" % (msg[MSG_NAME], msig[SIG_NAME]))
        mraw = to_raw(msg, msig, mval, scaling)
        if mraw not in msg[MSG_MUXVALS]:
            raise CodecError("%s: multiplexer %s = %r selects no signals"
                             % (msg[MSG_NAME], msig[SIG_NAME], mval))
        sigs = _active(msg, mraw)
    used = 0
    for sig in sigs:
        try:
            v = values[sig[SIG_NAME]]
        except KeyError:
            raise CodecError("%s: missing signal %s" % (msg[MSG_NAME], sig[SIG_NAME]))
        raw = to_raw(msg, sig, v, scaling)
        for b, sh, m, d in sig[SIG_SEGS]:  # put_raw, inlined
            buf[b] = (buf[b] & ~(m << sh)) | (((raw >> d) & m) << sh)
        used += 1
    if used != len(values):
        names = [s[SIG_NAME] for s in sigs]
        for k in values:
            if k not in names:
                raise CodecError("%s: signal %s is not part of this frame" % (msg[MSG_NAME], k))
    return buf


def encode(msg, values, scaling=True):
    return bytes(encode_into(msg, values, bytearray(msg[MSG_DLC]), scaling))


def decode_into(msg, data, out, scaling=True):
    """Unpack `data` into the dict `out` (reused by callers that care about
    allocation); returns `out`."""
    if len(data) < msg[MSG_DLC]:
        raise CodecError("%s: %d data bytes, need %d" % (msg[MSG_NAME], len(data), msg[MSG_DLC]))
    sigs = msg[MSG_SIGS]
    mi = msg[MSG_MUX]
    if mi >= 0:
        msig = sigs[mi]
        mval = get_raw(data, msig[SIG_SEGS])
        if mval not in msg[MSG_MUXVALS]:
            raise CodecError("%s: multiplexer %s = %r selects no signals"
                             % (msg[MSG_NAME], msig[SIG_NAME], mval))
        sigs = _active(msg, mval)
    for sig in sigs:
        raw = 0
        for b, sh, m, d in sig[SIG_SEGS]:  # get_raw, inlined
            raw |= ((data[b] >> sh) & m) << d
        if sig[SIG_SIGNED] and raw >> (sig[SIG_BITS] - 1):
            raw -= 1 << sig[SIG_BITS]
        out[sig[SIG_NAME]] = raw * sig[SIG_SCALE] + sig[SIG_OFFSET] if scaling else raw
    return out


def decode(msg, data, scaling=True):
    return decode_into(msg, data, {}, scaling)
