"""Firmware of the v2xbox main controller (MicroPython; also runs on CPython).

On CPython the `micropython` module does not exist; we register a tiny
stand-in so firmware modules can use `from micropython import const`
directly, which is what lets mpy-cross fold constants on the device.
"""
try:
    import micropython  # noqa: F401  (real module on the device)
except ImportError:
    import sys
    from firmware import _micropython_shim

    sys.modules["micropython"] = _micropython_shim
