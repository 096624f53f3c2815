"""In-process V2G rig: the firmware SECC, a simulated port and the scripted EVCC (DIN or
ISO 15118-2, whichever the SECC selects) on one simulated clock (no sockets, no threads,
faster than real time)."""
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs.secc import Secc
from firmware.protocols.ccs.transport import MemoryTransport
from hil.ccs.evcc import make_evcc

TICK_MS = 5


def run(car=None, cfg=None, port=None, max_ms=120000, tick_ms=TICK_MS):
    """Run one session to its end. Returns (secc record or None, evcc, port, secc)."""
    t = MemoryTransport()
    port = port or P.SimPort()
    secc = Secc(t, port, dict(cfg or {}))
    secc.open(0)
    ev = make_evcc(t, car, inlet_v=port.inlet_v, current_a=port.current_a)
    now = 0
    while now < max_ms:
        ev.step(now)
        secc.step(now)
        if ev.done and not secc.records and secc.conn is None:
            break
        if ev.done and secc.records:
            break
        now += tick_ms
    # let the SECC notice the close
    for _ in range(3):
        now += tick_ms
        secc.step(now)
    return (secc.records[-1] if secc.records else None), ev, port, secc
