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


@pytest.mark.parametrize("name", profiles.names())
def test_profile_discharges(name):
    ok, why, rec = profile_runs.run_profile(name)
    assert ok, (why, rec)
    if profiles.get(name)["loop_limit_s"]:
        # the car ended the loop on its own timer, after discharging that long
        assert rec["phase_ms"]["WeldingDetectionReq"] - rec["phase_ms"]["CurrentDemandReq"] >= \
            profiles.get(name)["loop_limit_s"] * 1000
