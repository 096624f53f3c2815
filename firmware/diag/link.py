"""ISO-TP + UDS server on one physical address pair (box.dbc DiagRequest
0x7E0 -> DiagResponse 0x7E8), sans-IO:

    d = DiagLink(target, now, fd=False)
    d.on_frame(payload, now)          # each frame received on REQ_ID
    for f in d.poll(now): port.send(RSP_ID, f)
"""
from micropython import const

from firmware.can.isotp import IsoTp
from firmware.diag.uds import UdsServer

REQ_ID = const(0x7E0)
RSP_ID = const(0x7E8)


class DiagLink:
    def __init__(self, target, now, fd=False, max_block=None):
        if max_block is None:
            max_block = 4095
        self.tp = IsoTp(fd=fd, max_rx=max_block)
        self.server = UdsServer(target, now, max_block)
        self._queue = []

    def on_frame(self, data, now):
        self.tp.receive(data, now)
        msg = self.tp.recv()
        while msg is not None:
            rsp = self.server.handle(msg, now)
            if rsp is not None:
                self._queue.append(rsp)
            msg = self.tp.recv()

    def poll(self, now, limit=255):
        tp = self.tp
        tp.handle_timer(now)
        for r in self.server.poll(now):
            self._queue.append(r)
        while self._queue and not tp.busy():
            tp.send(self._queue.pop(0), now)
        return tp.to_send(now, limit)

    def next_timer(self):
        t = self.tp.next_timer()
        s = self.server.next_timer()
        if s is not None and (t is None or s < t):
            t = s
        if self._queue:
            t = 0
        return t
