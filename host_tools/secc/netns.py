"""Network-namespace pair joined by a veth, for SECC/EVCC tests and benches (root only).

    with NetnsPair("v2xt") as ns:       # namespaces v2xt-box / v2xt-ev, veth ends box0 / ev0
        ns.run_box([...]) / ns.popen_box([...]) / ns.popen_ev([...])

Both ends get their link-local address with DAD disabled (no 2 s wait). Everything is
removed on exit, also after an exception; nothing else on the host is touched.
"""
import os
import subprocess
import time


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


class NetnsPair:
    def __init__(self, prefix="v2x%d" % (os.getpid() % 100000)):
        self.box_ns = prefix + "-box"
        self.ev_ns = prefix + "-ev"
        self.box_if = "box0"
        self.ev_if = "ev0"
        self._procs = []

    def __enter__(self):
        self.cleanup()
        try:
            _ip("netns", "add", self.box_ns)
            _ip("netns", "add", self.ev_ns)
            _ip("-n", self.box_ns, "link", "add", self.box_if, "type", "veth", "peer", "name", self.ev_if,
                "netns", self.ev_ns)
            for ns, ifn in ((self.box_ns, self.box_if), (self.ev_ns, self.ev_if)):
                # no duplicate address detection on the test link (no 2 s wait); /proc/sys inside
                # `ip netns exec` is the namespace's own (no sysctl binary needed)
                for key in ("all", "default", ifn):
                    subprocess.run(["ip", "netns", "exec", ns, "sh", "-c",
                                    "echo 0 > /proc/sys/net/ipv6/conf/%s/accept_dad" % key], check=True)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", ifn, "up")
            self._wait_ll()
        except Exception:
            self.cleanup()
            raise
        return self

    def _wait_ll(self, timeout_s=5.0):
        end = time.monotonic() + timeout_s
        for ns, ifn in ((self.box_ns, self.box_if), (self.ev_ns, self.ev_if)):
            while True:
                out = _ip("-n", ns, "-6", "addr", "show", "dev", ifn).stdout
                if "fe80::" in out and "tentative" not in out:
                    break
                if time.monotonic() > end:
                    raise RuntimeError("no link-local address on %s in %s:\n%s" % (ifn, ns, out))
                time.sleep(0.05)

    def popen(self, ns, argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), **kw)
        self._procs.append(p)
        return p

    def popen_box(self, argv, **kw):
        return self.popen(self.box_ns, argv, **kw)

    def popen_ev(self, argv, **kw):
        return self.popen(self.ev_ns, argv, **kw)

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self):
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(3)
        self._procs = []
        for ns in (self.box_ns, self.ev_ns):
            _ip("netns", "del", ns, check=False)
