"""CPython model of the power stage (DC/DC, DC link, inverter, loads) for the bench.

Host-only: never flashed, never imported by inverter/controller (import-linter contract)."""
