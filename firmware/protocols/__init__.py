"""Protocol adapters: each speaks one charging protocol to the car and asks the
box for power only through the charging port (firmware.charging.port)."""
