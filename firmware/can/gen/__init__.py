"""Generated CAN codecs, one module per dbc/*.dbc (tools/gen_can.py). Do not edit."""
