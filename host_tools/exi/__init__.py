"""Host-side EXI helpers: JSON form of messages, the EXIficient peer, the `v2xbox exi` CLI."""
