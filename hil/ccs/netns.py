"""Network namespaces and veth pairs for the link-layer interop tests.

Everything a test creates lives in namespaces it owns (names carry the pid
and a counter) and is deleted on exit, also when the test fails. Needs root
(CAP_SYS_ADMIN + CAP_NET_ADMIN), as CI runs `make test`.

`socket_in(ns, ...)` opens a socket inside a namespace from this process:
the calling thread enters the namespace with setns(2), creates the socket
(which stays bound to that namespace) and returns to its own namespace.
"""
import contextlib
import ctypes
import itertools
import os
import shutil
import socket
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_count = itertools.count()
_created = []   # every namespace this process made, for the leak check


def leftovers():
    """Namespaces this process created that still exist."""
    out = sh("ip", "netns", "list", check=False).stdout.split()
    return [n for n in _created if n in out]


class NetnsError(RuntimeError):
    pass


def require_root():
    if os.geteuid() != 0:
        raise NetnsError("network-namespace tests need root (CI runs `make test` as root)")
    for tool in ("ip", "tc", "ethtool"):
        if shutil.which(tool) is None:
            raise NetnsError("%s (iproute2) is missing: run `make setup`" % tool)


def sh(*args, ns=None, check=True, timeout=10):
    cmd = list(args)
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise NetnsError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, (r.stderr or r.stdout).strip()))
    return r


def unique(prefix):
    return "v2x%s%d_%d" % (prefix, os.getpid() % 100000, next(_count))


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise NetnsError("setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def socket_in(ns, family, type_, proto=0):
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns("/var/run/netns/" + ns)
        try:
            return socket.socket(family, type_, proto)
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise NetnsError("cannot return to the test's own network namespace")
    finally:
        os.close(home)


class Topology:
    """Namespaces + veth pairs, torn down by close() (use as a context manager)."""

    def __init__(self):
        self.namespaces = []

    def netns(self, prefix):
        name = unique(prefix)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        _created.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        return name

    def veth(self, ns_a, if_a, ns_b, if_b, mac_a=None, mac_b=None, ipv6_a=False, ipv6_b=False):
        """A veth pair with one end in each namespace, both up. IPv6 on an end is
        disabled unless asked for (a raw-frame stack owns that end)."""
        tmp_a, tmp_b = unique("a"), unique("b")
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", ns_a, "name", if_a)
        sh("ip", "link", "set", tmp_b, "netns", ns_b, "name", if_b)
        for ns, ifn, mac, v6 in ((ns_a, if_a, mac_a, ipv6_a), (ns_b, if_b, mac_b, ipv6_b)):
            sh("sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=%d" % (ifn, 0 if v6 else 1), ns=ns)
            if mac is not None:
                sh("ip", "link", "set", ifn, "address", mac_str(mac), ns=ns)
            # veth hands partially-checksummed packets to its peer (offload); a raw-socket
            # stack on the other end must get finished checksums, as from a real NIC
            sh("ethtool", "-K", ifn, "tx", "off", ns=ns)
            sh("ip", "link", "set", ifn, "up", ns=ns)

    def close(self):
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)  # deleting a namespace removes its veth ends
        self.namespaces = []

    def __enter__(self):
        require_root()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def mac_str(mac):
    return ":".join("%02x" % b for b in mac)


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


@contextlib.contextmanager
def topology():
    t = Topology()
    with t:
        yield t
