"""Every car profile discharges on the simulated bench, as the car the profile describes."""
import pytest

from firmware.protocols.ccs import profiles
from hil.ccs import profile_runs


def test_every_profile_has_a_reason_and_known_options():
    for n in profiles.names():
        p = profiles.get(n)
        assert p["reason"]
        assert set(p) == set(profiles.DEFAULT), n
    with pytest.raises(KeyError):
        profiles.get("no-such-car")


def test_runs_cover_every_profile_over_din_and_the_iso2_cars_over_iso2():
    runs = profile_runs.runs()
    assert sorted(n for n, p in runs if p == "din") == sorted(profiles.names())
    assert sorted(n for n, p in runs if p == "iso2") == ["bmw-ix", "porsche-taycan", "vw-meb"]


def test_car_offers_the_profiles_namespaces_in_order():
    assert profile_runs.car_for("tesla-din")["namespaces"] == (profile_runs.TESLA_NS, profile_runs.DIN_NS)
    assert profile_runs.car_for("vw-meb")["namespaces"] == (profile_runs.ISO2_NS, profile_runs.DIN_NS)
    assert profile_runs.car_for("hyundai-ioniq")["namespaces"] == (profile_runs.DIN_NS,)


def test_a_din_only_car_gets_din_from_a_box_that_prefers_iso2():
    ok, why, rec = profile_runs.run_profile("mercedes-eqc", protocol="iso2")
    assert not ok and why == "completed" and rec["protocol"] == "din", (why, rec)


@pytest.mark.parametrize("name,protocol", profile_runs.runs())
def test_profile_discharges(name, protocol):
    ok, why, rec = profile_runs.run_profile(name, protocol=protocol)
    assert ok, (why, rec)
    assert rec["protocol"] == protocol
    if profiles.get(name)["loop_limit_s"]:
        # the car ended the loop on its own timer, after discharging that long
        assert rec["phase_ms"]["WeldingDetectionReq"] - rec["phase_ms"]["CurrentDemandReq"] >= \
            profiles.get(name)["loop_limit_s"] * 1000
