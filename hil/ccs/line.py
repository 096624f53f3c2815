"""An impairing Ethernet bridge: the PLC line between the car and the box.

Two AF_PACKET ports in one namespace; every frame from one port goes out of
the other, subject to per-direction impairments drawn from a seeded random
generator (the same run impairs the same way): loss, duplication, delay,
reordering (a frame held back `reorder_ms` so later ones overtake it) and
a cut (everything dropped while set).

tc netem would do the same in the kernel, but CI kernels need not have
sch_netem (this machine's kernel is built without CONFIG_NET_SCH_NETEM), so
the rig does it here.
"""
import heapq
import random
import select
import threading
import time

from hil.ccs.rawlink import RawLink


class Impairment:
    def __init__(self, loss=0.0, dup=0.0, reorder=0.0, delay_ms=0, reorder_ms=8):
        self.loss = loss
        self.dup = dup
        self.reorder = reorder
        self.delay_ms = delay_ms
        self.reorder_ms = reorder_ms
        self.cut = False


class ImpairedBridge:
    def __init__(self, ns, if_a, if_b, a_to_b=None, b_to_a=None, seed=1, recorder=None):
        self.a = RawLink(ns, if_a)
        self.b = RawLink(ns, if_b)
        self.imp = {self.a: a_to_b or Impairment(), self.b: b_to_a or Impairment()}
        self.out = {self.a: self.b, self.b: self.a}
        self.rnd = random.Random(seed)
        self.q = []                 # (due, n, link, frame)
        self.n = 0
        self.stats = {"forwarded": 0, "lost": 0, "duplicated": 0, "reordered": 0, "cut": 0}
        self.recorder = recorder    # (t, direction "a>b"/"b>a", frame)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="line", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def set_cut(self, cut, direction=None):
        """Cut both directions, or only "a>b" / "b>a"."""
        with self._lock:
            for src, imp in self.imp.items():
                d = "a>b" if src is self.a else "b>a"
                if direction in (None, d):
                    imp.cut = cut

    def _schedule(self, src, frame, now):
        imp = self.imp[src]
        dst = self.out[src]
        if imp.cut:
            self.stats["cut"] += 1
            return
        r = self.rnd
        if imp.loss and r.random() < imp.loss:
            self.stats["lost"] += 1
            return
        copies = 2 if imp.dup and r.random() < imp.dup else 1
        if copies == 2:
            self.stats["duplicated"] += 1
        for _ in range(copies):
            due = now + imp.delay_ms / 1000.0
            if imp.reorder and r.random() < imp.reorder:
                due += imp.reorder_ms / 1000.0
                self.stats["reordered"] += 1
            self.n += 1
            heapq.heappush(self.q, (due, self.n, dst, frame))

    def _run(self):
        while not self._stop.is_set():
            now = time.monotonic()
            while self.q and self.q[0][0] <= now:
                _due, _n, dst, frame = heapq.heappop(self.q)
                dst.send(frame)
                self.stats["forwarded"] += 1
                if self.recorder is not None:
                    self.recorder(time.time(), "a>b" if dst is self.b else "b>a", frame)
            wait = 0.02 if not self.q else max(0.0, min(0.02, self.q[0][0] - time.monotonic()))
            r, _w, _x = select.select([self.a, self.b], [], [], wait)
            now = time.monotonic()
            with self._lock:
                for src in r:
                    for _ in range(64):
                        f = src.recv()
                        if f is None:
                            break
                        self._schedule(src, f, now)

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)
        self.a.close()
        self.b.close()
