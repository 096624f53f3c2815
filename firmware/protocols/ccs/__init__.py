"""CCS / NACS (SAE J3400) charger side: control pilot, SLAC, IPv6/TCP, V2GTP and
the DIN 70121 / ISO 15118 SECC state machines (issues 10 and 11)."""
