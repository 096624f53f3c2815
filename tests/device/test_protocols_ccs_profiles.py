"""Car profiles as data (CPython and MicroPython): every profile names the protocols its car
offers, with a source, in known names; the DIN-only default; the lookup by protocol."""
import firmware  # noqa: F401
from firmware.protocols.ccs import profiles, sap


def test_every_profile_offers_known_protocols_with_a_reason():
    for n in profiles.names():
        p = profiles.get(n)
        assert len(p["protocols"]) >= 1, n
        for proto in p["protocols"]:
            assert proto in profiles.PROTOCOL_NAMES, (n, proto)
            assert proto == "tesla" or proto in sap.PROTOCOLS, (n, proto)
        assert len(p["protocols_reason"]) > 20, n
        # every car speaks DIN: the fallback of every CCS car and of every known discharge
        assert "din" in p["protocols"], n


def test_default_is_din_only_and_iso2_cars_are_the_reported_ones():
    assert profiles.DEFAULT["protocols"] == ("din",)
    assert profiles.get("generic")["protocols"] == ("din",)
    assert sorted(profiles.offering("iso2")) == ["bmw-ix", "porsche-taycan", "vw-meb"]
    assert profiles.offering("tesla") == ["tesla-din"]
    assert profiles.get("tesla-din")["protocols"] == ("tesla", "din")
    assert len(profiles.offering("din")) == len(profiles.names())


def test_unknown_protocol_is_an_error():
    try:
        profiles.offering("iso20ac")
    except KeyError:
        return
    raise AssertionError("no KeyError")
