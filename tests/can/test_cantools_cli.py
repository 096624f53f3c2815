"""`cantools dump`, `cantools decode` and `cantools monitor` work on the
project's DBCs unchanged. monitor (curses) runs in a pseudo-terminal against
the bench bus (python-can-remote on 127.0.0.1)."""
import os
import pty
import select
import subprocess
import sys
import time

import can
import pytest

from host_tools import benchbus
from tools import gen_can

CANTOOLS = os.path.join(os.path.dirname(sys.executable), "cantools")
DBCS = gen_can.dbc_files()
IDS = [os.path.basename(p) for p in DBCS]


@pytest.mark.parametrize("path", DBCS, ids=IDS)
def test_cantools_dump(path):
    r = subprocess.run([CANTOOLS, "dump", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Cycle time" in r.stdout and r.stderr == ""


def test_cantools_decode_candump_lines():
    lines = "  can0  102   [8]  02 9A 01 1F 00 81 48 00\n  can0  208   [8]  FF F4 01 F0 00 00 FA 00\n"
    r = subprocess.run([CANTOOLS, "decode", "--single-line", os.path.join(gen_can.DBC_DIR, "chademo.dbc")],
                       input=lines, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "TargetBatteryVoltage: 410 V" in r.stdout and "AvailableInputCurrent: 15 A" in r.stdout


def _read_pty(fd, until, timeout):
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and until not in buf:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
    return buf


def test_cantools_monitor_shows_decoded_chademo_frames():
    server, chan = benchbus.start_server()
    try:
        pid, fd = pty.fork()
        if pid == 0:  # child: cantools monitor in an 120x40 terminal
            os.environ["TERM"] = "xterm"
            os.environ["LINES"], os.environ["COLUMNS"] = "40", "120"
            os.execv(CANTOOLS, [CANTOOLS, "monitor", "-i", "remote", "-c", chan,
                                os.path.join(gen_can.DBC_DIR, "chademo.dbc")])
        try:
            assert b"Received: 0" in _read_pty(fd, b"Received: 0", 30)
            with can.Bus(interface="remote", channel=chan) as bus:
                seen = b""
                for _ in range(40):
                    bus.send(can.Message(arbitration_id=0x208, data=bytes.fromhex("FFF401F00000FA00"),
                                         is_extended_id=False))
                    seen += _read_pty(fd, b"LowerThresholdVoltage", 0.25)
                    if b"LowerThresholdVoltage" in seen:
                        break
            assert b"ChargerDischargeStatus" in seen and b"LowerThresholdVoltage" in seen
            os.write(fd, b"q")
            _pid, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0
        finally:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(fd)
    finally:
        server.kill()
        server.wait()
