"""NOR flash with the target's real granularity, for the power-cut tests.

STM32H743 (RM0433 s4.3): 128 KiB sectors, 256-bit (32-byte) flash words
programmed once per erase (ECC). STM32F767 (RM0410 s3.3): 32 KiB sectors
in the first bank. Programming a word twice or off its alignment raises,
as the hardware flags a programming error.

`cut_at` = index of the flash operation (erase or write) during which power
fails: a write lands its first half of words, an erase leaves the sector
half erased and half scrambled. After the cut every operation raises.
(The i8-safety branch makes the HAL's SimFlash granular; this model can be
replaced by it once that lands on main.)
"""
from firmware.hal.sim import PowerLoss, SimFlash


class ProgramError(Exception):
    pass


class GranularFlash(SimFlash):
    def __init__(self, size, sector_size, word=32):
        super().__init__(size=size, sector_size=sector_size)
        self.word = word
        self.ops = 0
        self.cut_at = None
        self.dead = False

    def _op(self):
        if self.dead:
            raise PowerLoss("power is off")
        k = self.ops
        self.ops += 1
        return self.cut_at is not None and k == self.cut_at

    def write(self, offset, data):
        cut = self._op()
        w = self.word
        if offset % w or len(data) % w:
            raise ProgramError("write of %d bytes at 0x%X is not flash-word aligned" % (len(data), offset))
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError("flash write out of range")
        words = len(data) // w
        for k in range(words):
            a = offset + k * w
            if self.mem[a:a + w] != b"\xff" * w:
                raise ProgramError("flash word at 0x%X programmed twice" % a)
        land = words // 2 if cut else words
        for k in range(land):
            a = offset + k * w
            self.mem[a:a + w] = data[k * w:(k + 1) * w]
        if cut:
            self.dead = True
            raise PowerLoss("power lost while programming")

    def erase(self, sector):
        cut = self._op()
        if not 0 <= sector < self.size // self.sector_size:
            raise ValueError("no such flash sector")
        a = sector * self.sector_size
        ss = self.sector_size
        if cut:
            self.mem[a:a + ss // 2] = b"\xff" * (ss // 2)
            self.mem[a + ss // 2:a + ss] = bytes((i * 37 + 11) & 0xFF for i in range(ss // 2))
            self.dead = True
            raise PowerLoss("power lost while erasing")
        self.mem[a:a + ss] = b"\xff" * ss

    def power_on(self):
        self.dead = False
        self.cut_at = None
