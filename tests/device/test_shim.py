"""The `micropython.const` shim behaves the same on both interpreters."""
import firmware  # noqa: F401
from micropython import const

_X = const(7)


def test_const_is_identity():
    assert _X == 7
    assert const(0x1F) == 31
