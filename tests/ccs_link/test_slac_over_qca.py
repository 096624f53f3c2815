"""The SLAC core through the QCA7000 SPI driver and the register-level chip
model (the sim HAL's modem): every frame crosses the SPI framing both ways."""
from firmware.hal import qca7000 as q
from firmware.hal.qca7000_sim import Qca7000Model
from firmware.protocols.ccs.slac import evse as se
from firmware.protocols.ccs.slac import mme
from hil.ccs.slac_sim import EVSE, MODEM, SimPev


def test_slac_match_through_the_spi_driver():
    chip = Qca7000Model()
    drv = q.Qca7000(chip)
    assert drv.start()
    core = se.SlacEvse(EVSE, lambda n: bytes(range(40, 40 + n)))
    pev = SimPev()
    core.start(0)
    now = 0
    started = False
    while now < 3000 and pev.matched is None:
        for f in core.to_send(now):
            drv.send(f)
        drv.service()
        for f in chip.sent:                       # what the modem got over SPI
            t = f[15] | (f[16] << 8)
            if t == mme.CM_SET_KEY | mme.REQ:
                chip.inject(mme.set_key_cnf(EVSE, MODEM))
            else:
                pev.receive(f, now)
        chip.sent = []
        if core.state == se.WAIT_PARM and not started:
            started = True
            pev.start(now)
        due = [x for x in pev.out if x[0] <= now]
        pev.out = [x for x in pev.out if x[0] > now]
        for _t, f in due:
            chip.inject(f)                        # from the powerline into the read buffer
        if chip.irq():
            drv.service()
        while True:
            f = drv.recv()
            if f is None:
                break
            core.receive(f, now)
        nt = core.next_timer()
        if nt is not None and nt <= now:
            core.handle_timer(now)
        now += 1
    assert pev.matched is not None and pev.matched[2] == core.nmk
    assert sum(core.errors.values()) == 0 and drv.dec.errors == 0 and chip.bad_writes == 0
    assert drv.counters["rx"] >= 13 and drv.counters["tx"] >= 4
