"""atheris harness: the EXI decoder raises nothing but EXIError on any input.

    python tests/exi/fuzz_exi.py -runs=20000 -max_len=512
"""
import os
import sys

import atheris

with atheris.instrument_imports():
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import firmware  # noqa: F401
    from firmware.v2g.exi import SCHEMAS, EXIError, codec_for

CODECS = [codec_for(s) for s in SCHEMAS]


def one(data):
    if not data:
        return
    c = CODECS[data[0] % len(CODECS)]
    body = b"\x80" + data[1:] if data[0] & 0x80 else data[1:]   # mostly past the header check
    try:
        msg = c.decode(body)
    except EXIError:
        return
    # whatever decodes must re-encode, and that encoding must decode to the same message
    try:
        again = c.encode(msg)
    except EXIError:
        return   # decodable but not schema-valid (facets / empty values): fine
    assert c.decode(again) == msg


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
