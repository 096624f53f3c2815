"""Bench rigs: the real firmware on the sim HAL in simulated time, wired to
the one averaged plant (inverter.plant.averaged) and a simulated car
(hil.vehicles). A rig is the wiring; what happens in it is a scenario
(hil.scenarios)."""
