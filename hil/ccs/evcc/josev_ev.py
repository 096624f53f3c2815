"""Josev's EVCC (PyPI iso15118) with a simulated EV whose ISO 15118-20 DC values are those of
a real car. Run with the Josev venv's python (build/josev-venv), like iso15118.evcc.main:

    build/josev-venv/bin/python hil/ccs/evcc/josev_ev.py CONFIG.json

Josev's SimEVController reports 20 kV present and target voltage in -20 DC PreCharge and
ChargeLoop (evcc/controller/simulator.py), which no DC inlet has and the box rightly
refuses to precharge to. This keeps every other behaviour of Josev's EVCC and changes only
those voltages (to V2X_EV_VOLTAGE, default 380 V). DIN and ISO-2 values are Josev's own.

V2X_EVCC_TIMEOUT_FLOOR_S (bench only, default off): the EVCC waits at least this long for
every response. Josev's own CurrentDemand limit (250 ms, iso15118 din_spec/timeouts.py)
ends sessions against a slow SECC; the SECC-response bench uses the same relaxed EVCC for
both SECCs so that it can time a slow one at all (bench/secc_bench.py).
"""
import asyncio
import os
import sys

from iso15118.evcc import Config, EVCCHandler
from iso15118.evcc.controller.simulator import SimEVController
from iso15118.evcc.evcc_config import load_from_file
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
from iso15118.shared.messages.iso15118_20.common_types import RationalNumber

VOLTS = int(os.environ.get("V2X_EV_VOLTAGE", "380"))
TIMEOUT_FLOOR_S = float(os.environ.get("V2X_EVCC_TIMEOUT_FLOOR_S", "0"))


class _FlooredAsyncio:
    """asyncio for Josev's session loop (comm_session.rcv_loop), every wait_for at least
    TIMEOUT_FLOOR_S; everything else is asyncio's."""

    def __getattr__(self, name):
        return getattr(asyncio, name)

    @staticmethod
    def wait_for(aw, timeout):
        return asyncio.wait_for(aw, None if timeout is None else max(float(timeout), TIMEOUT_FLOOR_S))


if TIMEOUT_FLOOR_S > 0:
    import iso15118.shared.comm_session as _comm_session
    _comm_session.asyncio = _FlooredAsyncio()


class RealisticEV(SimEVController):
    async def get_present_voltage(self):
        return RationalNumber(exponent=0, value=VOLTS)

    async def get_target_voltage(self):
        return RationalNumber(exponent=0, value=VOLTS)


async def main():
    config = Config()
    config.load_envs()
    if len(sys.argv) > 1:
        config.ev_config_file_path = sys.argv[1]
    evcc_config = await load_from_file(config.ev_config_file_path)
    await EVCCHandler(evcc_config=evcc_config, iface=config.iface, exi_codec=ExificientEXICodec(),
                      ev_controller=RealisticEV(evcc_config)).start()


if __name__ == "__main__":
    asyncio.run(main())
