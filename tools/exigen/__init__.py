"""Host-side generator of the EXI grammar tables (see __main__.py)."""
