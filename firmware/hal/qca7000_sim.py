"""A QCA7000 at the SPI-register level, for the sim HAL and the driver's tests.

It answers the command words of firmware/hal/qca7000.py like the chip:
signature, interrupt cause/enable, write-buffer space, read-buffer bytes,
BFR_SIZE-checked external transfers. The powerline side is two lists:
`inject(frame)` puts a frame from the car into the read buffer (raising
PKT_AVLBL), `sent` collects frames the host wrote. `wrbuf_space` models a
busy modem; `reboot()` raises CPU_ON and clears the buffers.
"""
from firmware.hal import qca7000 as q


class Qca7000Model:
    def __init__(self):
        self.regs = {q.REG_INTR_ENABLE: 0, q.REG_INTR_CAUSE: 0, q.REG_BFR_SIZE: 0,
                     q.REG_SPI_CONFIG: 0}
        self.rdbuf = bytearray()
        self.sent = []
        self.wrbuf_space = q.BUF_SIZE
        self.garbage_once = True     # the first signature read after power-up is garbage
        self.bad_writes = 0
        self.transfers = 0

    # bench side
    def inject(self, frame, corrupt=False):
        n = len(frame)
        pad = q.ETH_MIN - n if n < q.ETH_MIN else 0
        fl = n + pad
        total = fl + q.HW_OVERHEAD
        b = bytearray((total & 0xFF, total >> 8, 0, 0)) + q.SOF + bytearray((fl & 0xFF, fl >> 8, 0, 0))
        b += frame + bytes(pad) + (b"\x00\x00" if corrupt else q.EOF)
        self.rdbuf += b
        self.regs[q.REG_INTR_CAUSE] |= q.INT_PKT_AVLBL

    def reboot(self):
        self.rdbuf = bytearray()
        self.regs[q.REG_INTR_CAUSE] |= q.INT_CPU_ON
        self.regs[q.REG_INTR_ENABLE] = 0

    def irq(self):
        """The interrupt line (active when an enabled cause is pending)."""
        return bool(self.regs[q.REG_INTR_CAUSE] & self.regs[q.REG_INTR_ENABLE])

    # SPI side
    def xfer(self, tx, rx_len):
        self.transfers += 1
        cmd = (tx[0] << 8) | tx[1]
        reg = cmd & 0x3FFF
        if cmd & q.INTERNAL:
            if cmd & q.READ:
                v = self._read_reg(reg)
                return bytes((v >> 8, v & 0xFF))
            v = (tx[2] << 8) | tx[3]
            if reg == q.REG_INTR_CAUSE:
                self.regs[reg] &= ~v & 0xFFFF          # write-1-to-clear
            else:
                self.regs[reg] = v
            return b""
        size = self.regs[q.REG_BFR_SIZE]
        if cmd & q.READ:
            if rx_len != size or size > len(self.rdbuf):
                self.regs[q.REG_INTR_CAUSE] |= q.INT_RDBUF_ERR
                return bytes(rx_len)
            out = bytes(self.rdbuf[:size])
            self.rdbuf = self.rdbuf[size:]
            return out
        data = tx[2:]
        if len(data) != size or size > self.wrbuf_space:
            self.regs[q.REG_INTR_CAUSE] |= q.INT_WRBUF_ERR
            self.bad_writes += 1
            return b""
        if data[0:4] != q.SOF or data[-2:] != q.EOF:
            self.bad_writes += 1
            return b""
        fl = data[4] | (data[5] << 8)
        self.sent.append(bytes(data[8:8 + fl]))
        return b""

    def _read_reg(self, reg):
        if reg == q.REG_SIGNATURE:
            if self.garbage_once:
                self.garbage_once = False
                return 0x1234
            return q.SIGNATURE
        if reg == q.REG_WRBUF_SPC_AVA:
            return self.wrbuf_space
        if reg == q.REG_RDBUF_BYTE_AVA:
            return len(self.rdbuf)
        return self.regs.get(reg, 0)
