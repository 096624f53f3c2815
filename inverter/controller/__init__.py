"""Power-stage controller (runs on the power stage's own MCU; MicroPython rules)."""
