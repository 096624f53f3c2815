"""Inverter: `controller/` runs on the power-stage MCU (MicroPython rules);
`plant/` is the CPython model of the power stage used by the bench."""
import firmware  # noqa: F401  (registers the CPython `micropython` shim)
