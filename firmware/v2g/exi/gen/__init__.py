"""Generated EXI grammar tables (one module per schema set); see tools/exigen."""
