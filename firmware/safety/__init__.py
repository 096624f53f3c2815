"""Safety supervisor: the only code that commands contactors, relays, the
precharge source and the power-stage enable line.

The session (firmware.charging) only *requests*; the supervisor grants or
vetoes every request against the invariants in `limits` and `invariants`.
Everything here is sans-IO except `io`, the thin adapter onto a `Hal`.
"""
