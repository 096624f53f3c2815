"""`v2xbox secc` argument handling: bad input gets a clear message and exit code 2, no sockets."""
import pytest

from host_tools import cli


@pytest.mark.parametrize("args,msg", [
    (["--protocols", "din,foo"], "unknown protocol"),
    (["--protocols", ""], "unknown protocol"),
    (["--profile", "no-such-car"], "unknown profile"),
    (["--transport", "raw"], "not an Ethernet interface"),      # lo: no MAC for the box's stack
    (["--transport", "raw", "--tls", "--cert-dir", "/nonexistent"], "cannot load TLS certificates"),
    (["--pcap", "/tmp/x.pcap"], "--transport raw"),
    (["--tcp-port", "70000"], "--tcp-port"),
    (["--soc-floor", "101"], "--soc-floor"),
    (["--sessions", "-1"], "--sessions"),
    (["--loops", "-5"], "--loops"),
    (["--timeout", "-1"], "--timeout"),
    (["--load-w", "nan"], "--load-w"),
])
def test_bad_arguments_exit_2_with_a_message(capsys, args, msg):
    rc = cli.main(["secc", "--iface", "lo"] + args)
    assert rc == 2
    assert msg in capsys.readouterr().err


def test_unknown_interface_is_a_clear_error(capsys):
    rc = cli.main(["secc", "--iface", "no-such-if0"])
    assert rc == 2
    assert "no-such-if0" in capsys.readouterr().err
