"""QCA7000 SPI driver (framing, write-buffer space, interrupts) against the chip model."""
import firmware  # noqa: F401
from firmware.hal import qca7000 as q
from firmware.hal.qca7000_sim import Qca7000Model

F1 = bytes(range(60))
F2 = bytes((i * 3) & 0xFF for i in range(300))


def driver():
    m = Qca7000Model()
    d = q.Qca7000(m)
    assert d.start()                      # signature read twice (first read is garbage)
    assert m.regs[q.REG_INTR_ENABLE] == q.INT_ENABLED
    return m, d


def test_encode_pads_and_frames():
    b = q.encode(b"\x01" * 20)
    assert b[0:4] == q.SOF and b[4] == 60 and b[5] == 0 and b[-2:] == q.EOF and len(b) == 70
    try:
        q.encode(bytes(2000))
        assert False
    except ValueError:
        pass


def test_receive_several_frames_in_one_read_on_interrupt():
    m, d = driver()
    m.inject(F1)
    m.inject(F2)
    assert m.irq()
    d.service()
    assert d.recv() == F1 and d.recv() == F2 and d.recv() is None
    assert not m.irq() and m.regs[q.REG_INTR_ENABLE] == q.INT_ENABLED


def test_send_waits_for_write_buffer_space():
    m, d = driver()
    m.wrbuf_space = 50                     # modem busy
    assert d.send(F2)
    assert m.sent == [] and d.counters["tx_wait"] == 1
    m.wrbuf_space = q.BUF_SIZE
    d.service()
    assert m.sent == [F2] and m.bad_writes == 0


def test_corrupt_frame_is_counted_and_the_next_one_survives():
    m, d = driver()
    m.inject(F1, corrupt=True)
    m.inject(F2)
    d.service()
    assert d.recv() == F2 and d.dec.errors >= 1


def test_decoder_resyncs_after_garbage_and_split_reads():
    dec = q.RxDecoder()
    m = Qca7000Model()
    m.inject(F2)
    stream = b"\x13\x37garbage\xaa\xaa" + bytes(m.rdbuf)
    got = []
    for i in range(0, len(stream), 7):     # arbitrary read boundaries
        got += dec.feed(stream[i:i + 7])
    assert got == [F2] and dec.errors >= 1


def test_modem_reboot_is_seen():
    m, d = driver()
    m.reboot()
    d.service()
    assert d.resets == 1 and m.regs[q.REG_INTR_ENABLE] == q.INT_ENABLED


def test_bounded_queues():
    m, d = driver()
    m.wrbuf_space = 0
    for _ in range(20):
        d.send(F1)
    assert len(d.tx) == d.tx_max and d.counters["tx_dropped"] == 20 - d.tx_max
    for _ in range(20):
        m.inject(F1)
    d.service()
    assert len(d.rx) == d.rx_max and d.counters["rx_dropped"] == 4


def test_missing_modem_is_not_ready():
    m = Qca7000Model()
    m.garbage_once = False
    m._read_reg = lambda reg: 0xFFFF       # no chip on the bus: the lines float high
    d = q.Qca7000(m)
    assert not d.start() and d.counters["bad_signature"] == 1
