"""CLI plumbing without a box: interface selection (command line > environment
> config file > bench bus), bad input, no response, and the keys/build commands."""
import argparse
import os
import subprocess
import sys

import pytest

from firmware.diag import image as I
from host_tools.diag import build as B
from host_tools.diag import cli as D
from host_tools.diag import conn as C
from host_tools.diag import keys as K


def _args(**kw):
    base = dict(interface=None, channel=None, bitrate=None, fd=None, data_bitrate=None, config=None, keys=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_interface_precedence(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[can]\ninterface = "slcan"\nchannel = "/dev/ttyACM0"\nbitrate = 250000\n'
                   '[can.options]\ntty_baudrate = 115200\n[keys]\ndir = "/k"\n')
    s = C.settings(_args(config=str(cfg)), env={})
    assert (s["interface"], s["channel"], s["bitrate"], s["options"], s["keys"]) == (
        "slcan", "/dev/ttyACM0", 250000, {"tty_baudrate": 115200}, "/k")
    env = {"V2XBOX_INTERFACE": "pcan", "V2XBOX_CHANNEL": "PCAN_USBBUS1", "V2XBOX_FD": "1",
           "V2XBOX_DATA_BITRATE": "2000000"}
    s = C.settings(_args(config=str(cfg)), env=env)
    assert (s["interface"], s["channel"], s["bitrate"], s["fd"], s["data_bitrate"]) == (
        "pcan", "PCAN_USBBUS1", 250000, True, 2000000)
    s = C.settings(_args(config=str(cfg), interface="kvaser", channel="0"), env=env)
    assert (s["interface"], s["channel"]) == ("kvaser", "0")
    s = C.settings(_args(config=None), env={"HOME": str(tmp_path)})
    assert s["interface"] == "remote" and s["channel"].startswith("ws://127.0.0.1")


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(C.ConfigError):
        C.settings(_args(config=str(tmp_path / "missing.toml")), env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[can\n")
    with pytest.raises(C.ConfigError):
        C.settings(_args(config=str(bad)), env={})
    with pytest.raises(C.ConfigError):
        C.settings(_args(), env={"V2XBOX_BITRATE": "fast", "HOME": str(tmp_path)})


def _cli(*a, env=None):
    return subprocess.run([sys.executable, "-m", "host_tools.cli"] + list(a), capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **(env or {})))


def test_no_response_on_an_empty_virtual_bus():
    r = _cli("info", "-i", "virtual", "-c", "nobody-here", "--timeout", "0.3")
    assert r.returncode == D.EXIT_NO_RESPONSE and "no response from the box" in r.stderr


def test_unknown_interface_and_bad_args():
    assert _cli("info", "-i", "no-such-interface").returncode == D.EXIT_INTERFACE
    assert _cli("did", "read", "XYZ", "-i", "virtual").returncode == D.EXIT_USAGE
    assert _cli("config", "set", "colour", "red", "-i", "virtual").returncode == D.EXIT_USAGE
    assert _cli("config", "set", "mode", "V9", "-i", "virtual").returncode == D.EXIT_USAGE
    assert _cli("flash", "/nonexistent.bin", "-i", "virtual").returncode == D.EXIT_USAGE
    r = _cli("info", "--config", "/nonexistent.toml")
    assert r.returncode == D.EXIT_USAGE and "does not exist" in r.stderr


def test_flash_refuses_a_file_that_is_not_an_image(tmp_path):
    p = tmp_path / "junk.bin"
    p.write_bytes(b"\x00" * 500)
    r = _cli("flash", str(p), "-i", "virtual")
    assert r.returncode == D.EXIT_IMAGE_REJECTED and "not a v2xbox image" in r.stderr


def test_keys_generate_show_and_build_image(tmp_path):
    d = str(tmp_path / "k")
    r = _cli("keys", "generate", "--dir", d)
    assert r.returncode == 0 and "signing public key" in r.stdout
    assert _cli("keys", "generate", "--dir", d).returncode == D.EXIT_USAGE      # no silent overwrite
    r = _cli("keys", "show", "--dir", d, "--serial", "X1")
    assert K.load_public_key(d).hex() in r.stdout and "device key for X1" in r.stdout
    out = str(tmp_path / "fw.bin")
    r = _cli("build-image", "-o", out, "--version", "1.2.3", "--keys", d, "--include", "firmware/diag/*")
    assert r.returncode == 0, r.stderr
    img = open(out, "rb").read()
    res, h = I.parse_header(img)
    assert res == I.OK and h.version == I.version_int(1, 2, 3) and h.board == I.BOARD
    names = [n for n, _o, _s in I.payload_index(lambda o, n: img[I.HEADER_SIZE + o:I.HEADER_SIZE + o + n], h.size)]
    assert "firmware/diag/uds.mpy" in names and all(n.endswith(".mpy") for n in names)
    from firmware.diag.crypto import ed25519_verify
    assert ed25519_verify(K.load_public_key(d), img[:I.HEADER_SIZE], img[-I.SIGNATURE_SIZE:])
    assert _cli("build-image", "-o", out, "--version", "1.2", "--keys", d).returncode == D.EXIT_USAGE
    with pytest.raises(B.BuildError):
        B.parse_version("300.0.0")
