"""Shared helpers for the CHAdeMO rig tests."""
from firmware.protocols.chademo import charger as ch
from hil.rigs.chademo import ChademoRig
from hil.vehicles.chademo_car import ChademoCar

END_STATES = (ch.ST_IDLE, ch.ST_FAULT)


def rig(car=None, **kw):
    r = ChademoRig(car=car if car is not None else ChademoCar(), **kw)
    r.plug()
    r.core.start()
    return r


def discharging(car=None, **kw):
    """A rig in Discharging (asserted)."""
    r = rig(car, **kw)
    assert r.run_until(lambda x: x.core.state == ch.ST_DISCHARGING, 15000), r.states
    return r


def until_end(r, max_ms=30000):
    assert r.run_until(lambda x: x.core.state in END_STATES, max_ms), r.states
    r.run(100)   # let the stand-in supervisor apply the last releases
    return r


def at(ms_from_now, fn):
    """A rig hook that runs fn(rig) once, ms_from_now after it is installed."""
    state = {"t": None}

    def hook(r):
        if state["t"] is None:
            state["t"] = r.now + ms_from_now
        if state["t"] is not False and r.now >= state["t"]:
            state["t"] = False
            fn(r)
    return hook


def released(r):
    """d1, d2, box contactors, precharge and the discharge limit are all off,
    as requested by the core and as applied by the stand-in supervisor."""
    s = r.sup
    return r.core.safe() and not (s.d1 or s.d2 or s.box or s.precharge_v or s.limit_a)


def action_log(r):
    return [(t, ch.ACTION_NAMES[k], v) for t, k, v in r.actions]
