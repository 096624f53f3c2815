"""Firmware version, reported in the heartbeat and over UDS."""
from micropython import const

MAJOR = const(0)
MINOR = const(1)
