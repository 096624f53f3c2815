"""The device's ISO-TP core against python-can-isotp (the peer), both
directions, classic CAN and CAN FD, plus fuzzed input."""
import os

import isotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import firmware  # noqa: F401
from firmware.can import isotp as T

REQ, RSP = 0x7E0, 0x7E8


class Peer:
    """can-isotp's TransportLayerLogic as the tester, wired to our core."""

    def __init__(self, fd, blocksize=8, tx_dl=None):
        self.inbox = []
        self.to_dev = []
        params = {"tx_padding": 0xCC, "blocksize": blocksize, "stmin": 0, "max_frame_size": 1 << 20,
                  "can_fd": fd, "tx_data_length": tx_dl or (64 if fd else 8), "rx_flowcontrol_timeout": 1000,
                  "rx_consecutive_frame_timeout": 1000}
        self.tl = isotp.TransportLayerLogic(rxfn=self._rx, txfn=self._tx,
                                            address=isotp.Address(isotp.AddressingMode.Normal_11bits,
                                                                  txid=REQ, rxid=RSP), params=params)

    def _rx(self, timeout):
        return self.inbox.pop(0) if self.inbox else None

    def _tx(self, msg):
        self.to_dev.append(bytes(msg.data))


def _pump(peer, dev, now, rounds=20000):
    got = []
    for _ in range(rounds):
        peer.tl.process()
        moved = False
        while peer.to_dev:
            dev.receive(peer.to_dev.pop(0), now)
            moved = True
        for f in dev.to_send(now):
            peer.inbox.append(isotp.CanMessage(arbitration_id=RSP, data=bytes(f), is_fd=dev.fd))
            moved = True
        m = dev.recv()
        if m is not None:
            got.append(m)
        if peer.tl.available():
            got.append(peer.tl.recv())
        if got:
            return got[0]
        if not moved and not peer.inbox and not peer.tl.is_tx_transmitting() and not dev.busy():
            pass
    return None


SIZES = [1, 6, 7, 8, 20, 62, 63, 64, 100, 600, 4095, 5000]


@pytest.mark.parametrize("fd", [False, True])
@pytest.mark.parametrize("n", SIZES)
def test_tester_to_box(fd, n):
    if n > 4095 and not fd:
        n = 4095
    peer = Peer(fd)
    dev = T.IsoTp(fd=fd, max_rx=8192)
    data = os.urandom(n)
    peer.tl.send(data)
    assert _pump(peer, dev, 0) == data


@pytest.mark.parametrize("fd", [False, True])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("bs", [0, 1, 8])
def test_box_to_tester(fd, n, bs):
    peer = Peer(fd, blocksize=bs)
    dev = T.IsoTp(fd=fd)
    data = os.urandom(n)
    assert dev.send(data, 0)
    assert _pump(peer, dev, 0) == data
    assert not dev.busy()


def test_box_advertises_its_block_size_and_stmin():
    dev = T.IsoTp()
    dev.receive(bytes([0x13, 0xE8]) + b"\x01" * 6, 0)
    fc = dev.to_send(0)
    assert fc == [bytearray([0x30, T.RX_BLOCK_SIZE, T.RX_STMIN, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC])]
    sn = 1
    for k in range(T.RX_BLOCK_SIZE):
        dev.receive(bytes([0x20 | sn]) + b"\x02" * 7, 0)
        sn = (sn + 1) & 15
    assert dev.to_send(0)[0][:3] == bytearray([0x30, T.RX_BLOCK_SIZE, 0])  # next block


def test_overflow_and_timeouts():
    dev = T.IsoTp(max_rx=100)
    dev.receive(bytes([0x10, 200]) + b"\x00" * 6, 0)
    assert dev.to_send(0)[0][0] == 0x32                  # FC overflow
    dev = T.IsoTp()
    dev.receive(bytes([0x10, 20]) + b"\x00" * 6, 0)
    dev.to_send(0)
    dev.handle_timer(T.N_CR_MS)
    assert not dev.receiving() and "N_Cr" in dev.last_error
    dev.receive(bytes([0x21]) + b"\x00" * 7, 2000)       # stray CF: ignored
    assert dev.recv() is None
    assert dev.send(b"x" * 50, 0)
    dev.to_send(0)
    dev.handle_timer(T.N_BS_MS)
    assert not dev.busy() and "N_Bs" in dev.last_error


def test_wrong_sequence_number_aborts():
    dev = T.IsoTp()
    dev.receive(bytes([0x10, 20]) + b"\x00" * 6, 0)
    dev.receive(bytes([0x22]) + b"\x00" * 7, 0)
    assert not dev.receiving() and dev.errors == 1


def test_sender_honours_stmin_and_wait():
    dev = T.IsoTp()
    dev.send(b"a" * 40, 0)
    assert len(dev.to_send(0)) == 1                       # FF, then wait for FC
    dev.receive(b"\x31\x00\x00", 0)                      # WAIT
    assert dev.to_send(5) == []
    dev.receive(b"\x30\x00\x05", 10)                     # CTS, STmin 5 ms
    assert len(dev.to_send(10)) == 1
    assert dev.to_send(14) == []
    assert len(dev.to_send(15)) == 1


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=64), max_size=40), st.booleans())
def test_fuzzed_frames_never_raise(frames, fd):
    dev = T.IsoTp(fd=fd)
    t = 0
    for f in frames:
        dev.receive(f, t)
        dev.to_send(t)
        dev.handle_timer(t)
        dev.recv()
        t += 7
