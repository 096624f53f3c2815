"""The gain design: the checked-in coefficient set is what the design script
produces today, the loops it designs are stable with margin, and the
resonators sit where they should (Tustin pre-warp keeps them on frequency)."""
import math

import numpy as np
import pytest

from inverter import params as P
from inverter.controller import coeffs as K
from inverter.design import design as D


@pytest.fixture(scope="module")
def run():
    return D.run()


def test_coefficient_set_is_not_stale(run):
    text, _ = run
    with open(D.OUT) as f:
        assert f.read() == text, "run `python -m inverter.design.design` and commit inverter/controller/coeffs.py"


def test_check_mode_fails_on_a_stale_set(tmp_path, monkeypatch, run):
    stale = tmp_path / "coeffs.py"
    stale.write_text(run[0].replace("KPI = ", "KPI = 1 + "))
    monkeypatch.setattr(D, "OUT", str(stale))
    monkeypatch.setattr(D, "run", lambda: run)         # the design itself is the fixture's
    assert D.main(["--check"]) == 1
    stale.write_text(run[0])
    assert D.main(["--check"]) == 0


def test_closed_loops_stable_with_margin(run):
    _, reports = run
    for rep in reports:
        assert rep["stable"]
        for case in ("no_load", "rated_R"):
            r = rep[case]
            assert r["pole_radius"] < 0.9995
            assert r["current"]["pm_deg"] >= 35.0
            assert r["current"]["modulus_margin"] >= 0.35
            assert r["voltage"]["modulus_margin"] >= 0.3      # GM >= 3 dB, PM >= 17 deg guaranteed


def _biquad_gain(c, f):
    z = np.exp(1j * 2 * math.pi * f / K.FS_HZ)
    b0, b1, b2, a1, a2 = c
    return (b0 + b1 / z + b2 / z ** 2) / (1 + a1 / z + a2 / z ** 2)


@pytest.mark.parametrize("f0", [50, 60])
def test_resonators_peak_at_their_harmonic_with_gain_kr(f0):
    for h, c in zip(K.HARMONICS, K.RES[f0]):
        fh = h * f0
        freqs = np.linspace(fh - 20, fh + 20, 4001)
        g = np.abs(_biquad_gain(c, freqs))
        assert abs(freqs[int(np.argmax(g))] - fh) < 0.05          # pre-warped: on frequency
        assert abs(g.max() - D.KR[h]) / D.KR[h] < 0.01


def test_plain_tustin_would_detune_the_11th():
    """Why pre-warp: without it the 11th harmonic resonator moves off frequency."""
    import control
    wh = 2 * math.pi * 11 * 60
    r = control.tf([2 * D.WC_RAD_S, 0], [1, 2 * D.WC_RAD_S, wh * wh])
    rd = control.sample_system(r, P.TS_S, method="bilinear")
    freqs = np.linspace(640, 680, 4001)
    g = np.abs(np.squeeze(rd(np.exp(1j * 2 * math.pi * freqs * P.TS_S))))
    assert abs(freqs[int(np.argmax(g))] - 660) > 0.3
