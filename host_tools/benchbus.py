"""The multi-process bench bus: python-can-remote's server on loopback.

Every process (simulated box, monitor, HIL scenarios) connects with
python-can's `remote` interface to ws://127.0.0.1:PORT/. The server holds
one in-process `virtual` channel, so delivery is reliable and ordered.
Nothing listens on or sends to anything but 127.0.0.1.
"""
import contextlib
import os
import socket
import subprocess
import sys
import time

import can

HOST = "127.0.0.1"
DEFAULT_PORT = 54701
DEFAULT_CHANNEL = "ws://%s:%d/" % (HOST, DEFAULT_PORT)


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def channel_for(port):
    return "ws://%s:%d/" % (HOST, port)


def port_open(port, host=HOST):
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def start_server(port=None, timeout_s=10.0):
    """Start the bench bus server on 127.0.0.1; returns (Popen, channel URL)."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "can_remote", "-i", "virtual", "-c", "bench-%d" % port,
         "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )
    deadline = time.monotonic() + timeout_s
    while not port_open(port):
        if proc.poll() is not None:
            raise RuntimeError("bench bus server exited with code %s" % proc.returncode)
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("bench bus server did not come up on port %d" % port)
        time.sleep(0.05)
    return proc, channel_for(port)


def open_bus(interface="remote", channel=DEFAULT_CHANNEL, bitrate=None, **kwargs):
    """Any python-can interface; the bench bus by default."""
    if interface == "remote" and not str(channel).startswith(("ws://127.", "ws://localhost", "wss://127.")):
        raise ValueError("refusing a remote bench bus that is not on loopback: %s" % channel)
    if bitrate:
        kwargs["bitrate"] = bitrate
    return can.Bus(interface=interface, channel=channel, **kwargs)


def add_bus_arguments(parser):
    g = parser.add_argument_group("CAN interface (any python-can interface)")
    g.add_argument("-i", "--interface", default="remote",
                   help="python-can interface (default: remote = the bench bus)")
    g.add_argument("-c", "--channel", default=DEFAULT_CHANNEL,
                   help="channel (default: %(default)s)")
    g.add_argument("-b", "--bitrate", type=int, default=None, help="bit rate in bit/s")


def bus_from_args(args):
    return open_bus(args.interface, args.channel, args.bitrate)
