"""host_tools.decoder (compiled per-message decode) agrees with cantools for
random payloads of every message of every DBC, with and without choices."""
import cantools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_tools import dbcs
from host_tools.decoder import DecodeError, HostDecoder

from .test_codec_vs_cantools import SETTINGS

DBS = {n: dbcs.load(n) for n in dbcs.dbc_names()}
DECS = {n: HostDecoder(db) for n, db in DBS.items()}
CASES = [pytest.param(n, m, id="%s:%s" % (n, m.name)) for n, db in DBS.items() for m in db.messages]


@pytest.mark.parametrize("name,msg", CASES)
@SETTINGS
@given(data=st.data())
def test_random_payload_matches_cantools(name, msg, data):
    db, dec = DBS[name], DECS[name]
    payload = data.draw(st.binary(min_size=msg.length, max_size=msg.length + 2))
    choices = data.draw(st.booleans())
    try:
        ref = db.decode_message(msg.frame_id, payload, decode_choices=choices)
    except cantools.database.DecodeError:
        with pytest.raises(DecodeError):
            dec.decode(msg.frame_id, payload, choices)
        return
    ours = dec.decode(msg.frame_id, payload, choices)
    assert ours == ref
    assert list(ours) == list(ref) or set(ours) == set(ref)
    for k, v in ref.items():
        if isinstance(v, cantools.database.namedsignalvalue.NamedSignalValue):
            assert ours[k] == v.name
        else:
            assert type(ours[k]) is type(v), k


def test_short_payload_and_unknown_id():
    dec = DECS["chademo"]
    with pytest.raises(DecodeError, match="need 8"):
        dec.decode(0x102, b"\x01")
    with pytest.raises(KeyError):
        dec.decode(0x7FF, bytes(8))


def test_decode_frames_skips_what_it_cannot_decode():
    dec = HostDecoder.from_dbcs()
    frames = [(0x102, bytes.fromhex("029A011F00814800")), (0x7FF, b""), (0x7E0, bytes.fromhex("F0" + "00" * 7))]
    out = list(dec.decode_frames(frames))
    assert out[0][1]["TargetBatteryVoltage"] == 410 and out[1] == (0x7FF, None) and out[2] == (0x7E0, None)
