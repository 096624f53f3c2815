"""V2G (ISO 15118 / DIN SPEC 70121) protocol support for the SECC."""
