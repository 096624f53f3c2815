"""Scenarios: scripted sessions (plug, start, load, stop, unplug, faults) run
on a rig, separate from the rigs themselves."""
