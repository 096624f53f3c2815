"""The application: wires the cores to a HAL and schedules them."""
