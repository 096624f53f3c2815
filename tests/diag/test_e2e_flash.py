"""End to end: the real firmware runs as the simulated box (`v2xbox sim`, its
own process) on the bench bus; the technician CLI (`v2xbox ...`, its own
process) flashes and diagnoses it through udsoncan + can-isotp.

Each failure leaves the old firmware running and the CLI says why with its
own exit code."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from firmware.diag import image as I
from host_tools import benchbus
from host_tools.diag import build as B
from host_tools.diag import cli as D
from host_tools.diag import keys as K

PY = sys.executable
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def bus():
    proc, channel = benchbus.start_server()
    yield channel
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def modules():
    """Every firmware module through mpy-cross, once."""
    return B.compile_modules(B.firmware_sources())


@pytest.fixture(scope="module")
def images(modules, tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    sk = K.load_signing_key(K.DEV_DIR)
    out = {}

    def make(name, version, board=I.BOARD, key=sk, pad=0):
        mods = list(modules) + ([("firmware/pad.bin", os.urandom(pad))] if pad else [])
        img = B.build(mods, B.parse_version(version), key, board)
        p = str(d / (name + ".bin"))
        with open(p, "wb") as f:
            f.write(img)
        out[name] = p
        return img

    good = make("v020", "0.2.0")
    make("v030", "0.3.0")
    make("v010", "0.1.0")
    make("big", "0.2.1", pad=300 * 1024)
    make("board", "0.2.0", board="V2XBOX-OTHER")
    other = K.generate(str(d / "otherkeys"))
    make("signer", "0.2.0", key=K.load_signing_key(os.path.dirname(other[0])))
    t = bytearray(good)
    t[I.HEADER_SIZE + 1000] ^= 0x40                      # one bit in the payload
    with open(str(d / "tampered.bin"), "wb") as f:
        f.write(t)
    out["tampered"] = str(d / "tampered.bin")
    out["otherkeys"] = os.path.dirname(other[0])
    return out


class Sim:
    def __init__(self, channel, *extra, flash_file=None):
        self.args = [PY, "-m", "host_tools.cli", "sim", "-c", channel, "--speed", "1"] + list(extra)
        if flash_file:
            self.args += ["--flash-file", flash_file]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        line = self.proc.stderr.readline().decode()
        assert "box running" in line, line

    def stop(self, kill=False):
        if self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
        self.proc.wait(10)


@pytest.fixture
def sim(bus, tmp_path):
    sims = []

    def start(*extra, flash_file=None):
        s = Sim(bus, *extra, flash_file=flash_file)
        sims.append(s)
        return s
    start.channel = bus
    start.tmp = tmp_path
    yield start
    for s in sims:
        s.stop()


def cli(channel, *args, tmp=None, timeout=120):
    env = dict(ENV, XDG_CACHE_HOME=str(tmp) if tmp else ENV.get("XDG_CACHE_HOME", "/tmp"))
    r = subprocess.run([PY, "-m", "host_tools.cli"] + list(args) + ["-c", channel], capture_output=True,
                       text=True, timeout=timeout, env=env)
    return r


def info(channel):
    r = cli(channel, "info", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _version(channel):
    i = info(channel)
    return i["version"], i["image"]


def test_flash_boot_then_downgrade_and_bad_images_are_refused(sim, images):
    sim()
    ch = sim.channel
    assert _version(ch)[0] == "0.1.0"
    r = cli(ch, "flash", images["v020"], tmp=sim.tmp)
    assert r.returncode == D.EXIT_OK, r.stderr
    assert "box runs 0.2.0 from slot A (confirmed)" in r.stdout and "kB/s" in r.stdout
    v, st = _version(ch)
    assert v == "0.2.0" and st["confirmed"] == "A" and st["running"] == "A" and st["trial"] == "-"
    cases = [("v010", D.EXIT_DOWNGRADE, "downgrade refused"), ("tampered", D.EXIT_IMAGE_REJECTED, "hash mismatch"),
             ("signer", D.EXIT_BAD_SIGNATURE, "bad signature"), ("board", D.EXIT_WRONG_BOARD, "wrong target board")]
    for name, code, why in cases:
        r = cli(ch, "flash", images[name], tmp=sim.tmp)
        assert r.returncode == code, (name, r.stderr)
        assert why in r.stderr and "keeps running 0.2.0" in r.stderr, r.stderr
        v, st = _version(ch)
        assert v == "0.2.0" and st["running"] == "A" and st["trial"] == "-", (name, st)
    r = cli(ch, "flash", images["v030"], tmp=sim.tmp)       # slot B, then A is the spare again
    assert r.returncode == 0 and "0.3.0 from slot B (confirmed)" in r.stdout, r.stderr


def test_wrong_security_key_is_refused_config_and_dids(sim, images):
    sim()
    ch = sim.channel
    r = cli(ch, "flash", images["v020"], "--keys", images["otherkeys"], tmp=sim.tmp)
    assert r.returncode == D.EXIT_SECURITY and "wrong security key" in r.stderr, r.stderr
    assert _version(ch)[0] == "0.1.0"
    r = cli(ch, "config", "set", "soc_floor_pct", "25", "--keys", images["otherkeys"])
    assert r.returncode == D.EXIT_SECURITY
    r = cli(ch, "config", "set", "soc_floor_pct", "25")
    assert r.returncode == 0, r.stderr
    r = cli(ch, "config", "get", "soc_floor_pct")
    assert r.stdout.strip() == "soc_floor_pct = 25"
    r = cli(ch, "config", "set", "soc_floor_pct", "5")               # outside 10..90 %
    assert r.returncode == D.EXIT_REFUSED and "refused soc_floor_pct = 5" in r.stderr, r.stderr
    r = cli(ch, "config", "set", "profile", "230V/50Hz")
    assert r.returncode == 0, r.stderr
    r = cli(ch, "did", "read", "F189", "F18C")
    assert r.returncode == 0 and "'0.1.0'" in r.stdout and "'V2X-SIM-0001'" in r.stdout
    r = cli(ch, "did", "read", "1234")
    assert r.returncode == D.EXIT_REFUSED and "RequestOutOfRange" in r.stderr


def _start_flash(ch, image, tmp):
    env = dict(ENV, XDG_CACHE_HOME=str(tmp))
    p = subprocess.Popen([PY, "-m", "host_tools.cli", "flash", image, "-c", ch], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    while True:
        line = p.stderr.readline()
        assert line, "flash ended early: %s" % "".join(lines)
        lines.append(line)
        if "transferring from byte" in line:
            return p, lines


def test_interrupted_transfer_resumes(sim, images):
    sim()
    ch = sim.channel
    p, lines = _start_flash(ch, images["big"], sim.tmp)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _o, e = p.communicate(timeout=30)
    assert p.returncode == D.EXIT_INTERRUPTED, "".join(lines) + e
    assert "transfer interrupted at byte" in e and "keeps running 0.1.0" in e
    v, st = _version(ch)
    assert v == "0.1.0" and 0 < st["download_received"] < os.path.getsize(images["big"])
    r = cli(ch, "flash", images["big"], tmp=sim.tmp)
    assert r.returncode == 0, r.stderr
    assert "resuming at byte %d" % st["download_received"] in r.stderr
    assert _version(ch)[0] == "0.2.1"


def test_power_cut_during_transfer_keeps_the_old_firmware(sim, images):
    flash_file = str(sim.tmp / "flash.bin")
    box = sim(flash_file=flash_file)
    ch = sim.channel
    assert cli(ch, "flash", images["v020"], tmp=sim.tmp).returncode == 0
    p, lines = _start_flash(ch, images["big"], sim.tmp)
    time.sleep(1.0)
    box.stop(kill=True)                                   # power cut: the process dies, flash stays
    _o, e = p.communicate(timeout=60)
    assert p.returncode in (D.EXIT_INTERRUPTED, D.EXIT_NO_RESPONSE), e
    assert "transfer interrupted" in e or "no response" in e
    sim(flash_file=flash_file)                            # power back
    v, st = _version(ch)
    assert v == "0.2.0" and st["running"] == "A" and st["confirmed"] == "A" and st["trial"] == "-"
    assert st["download_received"] == 0                   # RAM progress is gone: a fresh transfer follows
    r = cli(ch, "flash", images["v030"], tmp=sim.tmp)
    assert r.returncode == 0 and "0.3.0" in r.stdout, r.stderr


def test_busy_discharging_then_dtcs_with_freeze_frames(sim, images):
    sim("--scenario", "discharge", "--supply-ms", "600000", "--fault", "estop@+15000")
    ch = sim.channel
    deadline = time.monotonic() + 30
    while info(ch)["state"] != "Supplying":
        assert time.monotonic() < deadline, "the session never reached Supplying"
        time.sleep(0.3)
    r = cli(ch, "config", "set", "mode", "V2H", tmp=sim.tmp)
    assert r.returncode == D.EXIT_BUSY, r.stderr
    r = cli(ch, "flash", images["v020"], tmp=sim.tmp)
    assert r.returncode == D.EXIT_BUSY and "busy discharging" in r.stderr, r.stderr
    deadline = time.monotonic() + 60
    while True:
        r = cli(ch, "dtc", "read", "--json")
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        if any(x["dtc"] == "P1A00-00" for x in rows):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)
    e = [x for x in rows if x["dtc"] == "P1A00-00"][0]            # the E-stop fault's DTC
    assert e["confirmed"] and e["freeze_frame"] is not None
    ff = e["freeze_frame"]
    assert ff["time_ms"] >= 15000 and ff["v_inlet"] > 100 and ff["state"] not in ("Idle", "Plugged")
    assert int(ff["faults"], 16) & 1
    r = cli(ch, "dtc", "read")
    assert "P1A00-00" in r.stdout and "Vin=" in r.stdout
    r = cli(ch, "dtc", "clear")
    assert r.returncode == 0, r.stderr
    assert json.loads(cli(ch, "dtc", "read", "--json").stdout) == []


def test_flash_over_can_fd(sim, images):
    sim("--fd")
    ch = sim.channel
    r = cli(ch, "flash", images["v020"], "--fd", tmp=sim.tmp)
    assert r.returncode == D.EXIT_OK, r.stderr
    assert "box runs 0.2.0 from slot A (confirmed)" in r.stdout

