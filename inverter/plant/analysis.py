"""Waveform figures for the inverter cases (tests and `make bench` share them)."""
import math

import numpy as np


def window(x, fs, f0, cycles, end=None):
    """The last `cycles` whole fundamental cycles of x (before index `end`)."""
    n = int(round(fs / f0 * cycles))
    end = len(x) if end is None else end
    return x[end - n:end]


def spectrum(x, fs, f0, cycles):
    """Harmonic amplitudes (peak) 0..N of the last whole cycles."""
    w = window(x, fs, f0, cycles)
    amp = np.abs(np.fft.rfft(w)) / len(w) * 2.0
    return amp[::cycles]


def thd_pct(x, fs, f0, cycles=5, hmax=40):
    """Total harmonic distortion of the voltage, harmonics 2..hmax (IEC 61000-4-7 style grouping not applied)."""
    h = spectrum(x, fs, f0, cycles)
    top = min(hmax, len(h) - 1)
    return 100.0 * math.sqrt(float(np.sum(h[2:top + 1] ** 2))) / float(h[1])


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def frequency_hz(t, x):
    """Frequency from the positive-going zero crossings (linear interpolation)."""
    s = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
    if len(s) < 3:
        return float("nan")
    tc = t[s] - x[s] * (t[s + 1] - t[s]) / (x[s + 1] - x[s])
    return (len(tc) - 1) / float(tc[-1] - tc[0])


def fit_sine(t, x, f0):
    """Least-squares a*sin + b*cos at f0; returns a function of t."""
    w = 2 * math.pi * f0
    m = np.column_stack([np.sin(w * t), np.cos(w * t)])
    (a, b), *_ = np.linalg.lstsq(m, x, rcond=None)
    return lambda tt: a * np.sin(w * tt) + b * np.cos(w * tt)


def step_response(t, v, f0, v_nom, t_step, t_end):
    """Deviation of the output from its pre-step sine after a load step at
    t_step, as % of the nominal peak. Returns (peak_deviation_pct,
    recovery_cycles): recovery = time from the step until the deviation stays
    within +-5 % of nominal, in fundamental cycles."""
    pre = (t >= t_step - 2.0 / f0) & (t < t_step)
    ref = fit_sine(t[pre], v[pre], f0)
    post = (t >= t_step) & (t < t_end)
    dev = np.abs(v[post] - ref(t[post])) / (math.sqrt(2) * v_nom) * 100.0
    out = np.nonzero(dev > 5.0)[0]
    rec = 0.0 if len(out) == 0 else float((t[post][out[-1]] - t_step) * f0)
    return float(dev.max()), rec
