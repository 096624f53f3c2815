"""EXI codec for V2G messages: SupportedAppProtocol, DIN SPEC 70121, ISO 15118-2, ISO 15118-20.

    from firmware.v2g.exi import codec_for
    din = codec_for("din")
    msg = din.decode(exi_bytes)        # {"V2G_Message": {...}}
    exi_bytes = din.encode(msg)

Schema set names: app, din, iso2, iso20 (CommonMessages), iso20dc (DC / DC_BPT), iso20ac (AC / AC_BPT).
Grammar tables are imported on first use, so only the needed ones take RAM.
"""
from firmware.v2g.exi.codec import Codec, EXIError  # noqa: F401

SCHEMAS = ("app", "din", "iso2", "iso20", "iso20dc", "iso20ac")
_codecs = {}


def codec_for(schema):
    c = _codecs.get(schema)
    if c is None:
        if schema not in SCHEMAS:
            raise EXIError("unknown schema set %r" % (schema,))
        mod = __import__("firmware.v2g.exi.gen." + schema, None, None, ["NAMES"])
        c = Codec(mod)
        _codecs[schema] = c
    return c
