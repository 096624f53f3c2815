"""Scripted EVCCs for the CCS rigs.

    ev = make_evcc(transport, behaviour, inlet_v, current_a)

One car, whichever protocol the SECC selects among the namespaces the behaviour offers
(DIN SPEC 70121 or ISO 15118-2 DC): car.py is the shared behaviour, din.py and iso2.py the
per-protocol messages. josev_ev.py drives Josev's EVCC instead (a real peer)."""
from hil.ccs.evcc import din, iso2
from hil.ccs.evcc.car import DEFAULT_CAR, Evcc  # noqa: F401

DIALECTS = (din.DIN, iso2.ISO2)


def make_evcc(transport, behaviour=None, inlet_v=None, current_a=None, ev_ip=None):
    """The scripted car on the peer side of `transport` (MemoryTransport's ev_* methods)."""
    return Evcc(transport, behaviour, inlet_v, current_a, ev_ip, DIALECTS)
