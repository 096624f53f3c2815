"""CHAdeMO charger side (EVSE) for V2X discharge: a sans-IO state machine
(charger.py) and its wiring onto a CanNode (link.py).

Numbers and the sequence come from shared/reference/chademo-can.md; each
constant cites the section (and the upstream project the reference names).
"""
