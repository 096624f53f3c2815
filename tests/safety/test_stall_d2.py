"""Main loop stalled mid-discharge with a CHAdeMO car: the stall monitor
(timer interrupt) must release d2 so the car opens its own contactors, within
the stated bound, after the power stage has stopped (no opening under load).
Before d2 was a field of Cmd the monitor could not reach it: the box
contactors opened but d2 stayed on and the car kept its contactors closed."""
from hil import safety_matrix as M


def test_stall_releases_d2_and_the_car_opens_within_the_bound():
    t_d2, t_car, under_load, i_open = M.stall_to_d2_off()
    assert t_d2 <= M.STALL_D2_BOUND_MS, t_d2
    assert t_car <= M.STALL_D2_BOUND_MS, t_car
    assert under_load == 0 and i_open <= 2.0, (under_load, i_open)
