"""JSON form of V2G messages, the same as the EXIficient peer's.

Messages are the codec's dicts with binary values as text: hexBinary as
upper-case hex, base64Binary as base64 (the codec does this itself with
text_binary=True on decode and accepts text on encode).
"""
import json

import firmware  # noqa: F401  (registers the micropython shim)
from firmware.v2g.exi import SCHEMAS, EXIError, codec_for

# ISO 15118-20 DC messages (DC_*) are global elements of the DC grammar only, so "iso20"
# covers both: encoding picks the grammar that has the root element; decoding tries the
# CommonMessages grammar first and the DC grammar if that fails. The bytes do not say which
# grammar made them (the V2GTP payload type does: 0x8002 / 0x8004), and in rare cases a
# CommonMessages stream also decodes as DC (never seen the other way round), hence this order;
# "iso20dc" forces the DC grammar.
_FALLBACK = {"iso20": "iso20dc"}


def decode(data, schema):
    try:
        return codec_for(schema).decode(data, text_binary=True)
    except EXIError as first:
        alt = _FALLBACK.get(schema)
        if alt is None:
            raise
        try:
            return codec_for(alt).decode(data, text_binary=True)
        except EXIError:
            raise first


def encode(msg, schema):
    c = codec_for(schema)
    if isinstance(msg, dict) and len(msg) == 1 and schema in _FALLBACK:
        root = next(iter(msg))
        if root not in c.root_by_name:
            c = codec_for(_FALLBACK[schema])
    return c.encode(msg)


def dumps(msg):
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)


__all__ = ["SCHEMAS", "EXIError", "decode", "encode", "dumps"]
