"""How the diagnostic commands reach the box: any python-can interface
(socketcan, slcan, pcan, kvaser, virtual, the bench bus `remote`, ...),
chosen by command line > environment > config file > the bench bus.

Config file (TOML): --config FILE, else $V2XBOX_CONFIG, else
~/.config/v2xbox/config.toml:

    [can]
    interface = "slcan"          # any python-can interface name
    channel = "/dev/ttyACM0"
    bitrate = 500000
    fd = false                   # CAN FD frames (64-byte ISO-TP frames)
    data_bitrate = 2000000       # FD data phase
    [can.options]                # passed to can.Bus as is, e.g. tty_baudrate = 115200
    [keys]
    dir = "/path/to/keys"        # see `v2xbox keys`

Environment: V2XBOX_INTERFACE, V2XBOX_CHANNEL, V2XBOX_BITRATE, V2XBOX_FD (0/1),
V2XBOX_DATA_BITRATE, V2XBOX_KEYS.
"""
import logging
import os
import tomllib

import can
import isotp
import udsoncan
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpConnection

from firmware.diag import uds as U
from firmware.diag.link import REQ_ID, RSP_ID
from host_tools import benchbus

# udsoncan logs every negative response at ERROR level; the CLI reports them itself
logging.getLogger("UdsClient").setLevel(logging.CRITICAL)
logging.getLogger("Connection").setLevel(logging.CRITICAL)

INTERFACES = ("socketcan", "slcan", "pcan", "kvaser", "virtual", "remote", "udp_multicast", "vector", "gs_usb")


class ConfigError(Exception):
    pass


def add_arguments(p):
    g = p.add_argument_group("CAN interface (any python-can interface; see `--help` of `v2xbox info`)")
    g.add_argument("-i", "--interface", help="python-can interface, e.g. %s (default: the bench bus)"
                   % ", ".join(INTERFACES))
    g.add_argument("-c", "--channel", help="channel (bench bus: %s)" % benchbus.DEFAULT_CHANNEL)
    g.add_argument("-b", "--bitrate", type=int, help="nominal bit rate in bit/s")
    g.add_argument("--fd", action="store_true", default=None, help="CAN FD frames (ISO-TP 64-byte frames)")
    g.add_argument("--data-bitrate", type=int, help="CAN FD data-phase bit rate")
    g.add_argument("--config", help="TOML config file (default $V2XBOX_CONFIG or ~/.config/v2xbox/config.toml)")
    g.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a response (default 2)")


def _load_file(path, explicit):
    if not path:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        if explicit:
            raise ConfigError("config file %s does not exist" % path)
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config file %s: %s" % (path, e))


def settings(args, env=None):
    """Resolved settings dict: interface, channel, bitrate, fd, data_bitrate, options, keys."""
    env = os.environ if env is None else env
    path = getattr(args, "config", None) or env.get("V2XBOX_CONFIG")
    explicit = bool(path)
    if not path:
        path = os.path.join(os.path.expanduser("~"), ".config", "v2xbox", "config.toml")
    cfg = _load_file(path, explicit)
    c = cfg.get("can", {})
    if not isinstance(c, dict):
        raise ConfigError("[can] must be a table")

    def pick(attr, envname, key, conv, default=None):
        v = getattr(args, attr, None)
        if v is not None:
            return v
        if env.get(envname) not in (None, ""):
            try:
                return conv(env[envname])
            except ValueError:
                raise ConfigError("%s=%r is not valid" % (envname, env[envname]))
        if key in c:
            try:
                return conv(c[key])
            except (TypeError, ValueError):
                raise ConfigError("[can] %s = %r is not valid" % (key, c[key]))
        return default

    def boolean(v):
        if isinstance(v, bool):
            return v
        if str(v).lower() in ("1", "true", "yes", "on"):
            return True
        if str(v).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(v)

    s = {
        "interface": pick("interface", "V2XBOX_INTERFACE", "interface", str, "remote"),
        "channel": pick("channel", "V2XBOX_CHANNEL", "channel", str),
        "bitrate": pick("bitrate", "V2XBOX_BITRATE", "bitrate", int),
        "fd": pick("fd", "V2XBOX_FD", "fd", boolean, False),
        "data_bitrate": pick("data_bitrate", "V2XBOX_DATA_BITRATE", "data_bitrate", int),
        "options": dict(c.get("options", {})),
        "keys": getattr(args, "keys", None) or env.get("V2XBOX_KEYS") or cfg.get("keys", {}).get("dir"),
    }
    if s["interface"] == "remote" and s["channel"] is None:
        s["channel"] = benchbus.DEFAULT_CHANNEL
    return s


def open_bus(s):
    kw = dict(s["options"])
    if s["fd"]:
        kw["fd"] = True
        if s["data_bitrate"]:
            kw["data_bitrate"] = s["data_bitrate"]
    if s["interface"] == "remote":
        return benchbus.open_bus("remote", s["channel"], s["bitrate"], **kw)
    if s["bitrate"]:
        kw["bitrate"] = s["bitrate"]
    if s["channel"] is not None:
        kw["channel"] = s["channel"]
    return can.Bus(interface=s["interface"], **kw)


class RawDid(udsoncan.DidCodec):
    """Variable-length DID value, returned as bytes."""

    def encode(self, v):
        return bytes(v)

    def decode(self, payload):
        return bytes(payload)

    def __len__(self):
        raise udsoncan.DidCodec.ReadAllRemainingData


class FixedDid(udsoncan.DidCodec):
    def __init__(self, n):
        self.n = n

    def encode(self, v):
        return bytes(v)

    def decode(self, payload):
        return bytes(payload)

    def __len__(self):
        return self.n


def did_codecs():
    d = {did: RawDid() for did in (U.DID_SESSION, U.DID_SW_VERSION, U.DID_SERIAL, U.DID_BOARD, U.DID_IMAGE,
                                   U.DID_LIVE, U.DID_CFG_SOC, U.DID_CFG_POWER, U.DID_CFG_PROFILE, U.DID_CFG_MODE)}
    d["default"] = RawDid()
    d[U.DID_FREEZE] = FixedDid(U.FREEZE_SIZE)
    return d


def _security_algo(level, seed, params):
    from firmware.diag.crypto import hmac_sha256   # the same HMAC the box runs
    return hmac_sha256(params, bytes(seed))


class Session:
    """An open bus + ISO-TP stack + udsoncan client (context manager)."""

    def __init__(self, s, timeout=2.0):
        self.s = s
        self.bus = open_bus(s)
        self.notifier = can.Notifier(self.bus, [], timeout=0.05)
        fd = bool(s["fd"])
        params = {"stmin": 0, "blocksize": 0, "tx_padding": 0xCC, "tx_data_length": 64 if fd else 8,
                  "can_fd": fd, "bitrate_switch": fd, "max_frame_size": 4095, "rx_flowcontrol_timeout": 1000,
                  "rx_consecutive_frame_timeout": 1000, "wait_func": _busy_wait}
        addr = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=REQ_ID, rxid=RSP_ID)
        self.stack = isotp.NotifierBasedCanStack(self.bus, self.notifier, address=addr, params=params)
        self.conn = PythonIsoTpConnection(self.stack)
        cfg = dict(udsoncan.configs.default_client_config)
        cfg.update({"data_identifiers": did_codecs(), "security_algo": _security_algo, "request_timeout": 30,
                    "p2_timeout": timeout, "p2_star_timeout": max(timeout, 6.0), "use_server_timing": False,
                    "dtc_snapshot_did_size": 2})
        self.client = Client(self.conn, config=cfg)

    def __enter__(self):
        self.client.open()
        return self

    def __exit__(self, *exc):
        try:
            self.client.close()
        finally:
            self.notifier.stop()
            self.bus.shutdown()


def _busy_wait(t):
    import time
    end = time.perf_counter() + t
    while time.perf_counter() < end:
        pass
