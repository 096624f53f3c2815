"""Hardware abstraction layer: the only place firmware meets hardware.

`interface` documents what every backend provides; `sim` is the simulated
backend driven by the bench (hil/) and tests; `board` is the STM32
MicroPython backend (machine / pyb). Cores never import a backend: the
application is handed a `Hal` object at start-up.
"""
