"""The technician CLI: bad arguments get a clear message and a non-zero exit."""
import subprocess
import sys

from host_tools import benchbus, cli


def _run(*args):
    return subprocess.run([sys.executable, "-m", "host_tools.cli"] + list(args), capture_output=True, text=True,
                          timeout=60)


def test_no_command_is_a_usage_error():
    r = _run()
    assert r.returncode == 2 and "usage" in r.stderr


def test_unknown_dbc_is_refused():
    r = _run("monitor", "--dbc", "nope", "--duration", "0.1")
    assert r.returncode == 2 and "unknown DBC 'nope'" in r.stderr


def test_bad_regex_is_refused():
    r = _run("monitor", "--filter", "(", "--duration", "0.1")
    assert r.returncode == 2 and "monitor:" in r.stderr


def test_bad_id_is_a_usage_error():
    r = _run("monitor", "--id", "zz")
    assert r.returncode == 2 and "--id" in r.stderr


def test_unreachable_bus_is_reported():
    port = benchbus.free_port()
    r = _run("monitor", "-c", benchbus.channel_for(port), "--duration", "0.5")
    assert r.returncode == 3 and "cannot open CAN interface" in r.stderr


def test_remote_bus_off_loopback_is_refused():
    r = _run("monitor", "-c", "ws://192.0.2.1:54701/", "--duration", "0.1")
    assert r.returncode == 3 and "not on loopback" in r.stderr


def test_sim_rejects_negative_speed():
    assert cli.main(["sim", "--speed", "-1"]) == 2
