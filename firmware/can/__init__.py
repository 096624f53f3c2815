"""CAN layer of the main controller: table-driven codec (codec.py), codecs
generated from dbc/*.dbc (gen/), and the bus node (RX dispatch, TX
schedule, timeout supervision, bus-off recovery)."""
