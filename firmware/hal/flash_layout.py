"""Internal-flash geometry of the target MCUs and the storage partitions.

Sources (sector tables as the MicroPython stm32 port programs them,
ports/stm32/flash.c `flash_layout[]` and mboot/main.c FLASH_LAYOUT_STR;
ST RM0410 (STM32F76x/77x) section 3.3 and RM0433 (STM32H742/743/750)
section 4.3):

  STM32F767 (2 MiB, single-bank mode, nDBANK=1): 4 x 32 KiB, 1 x 128 KiB,
      7 x 256 KiB from 0x08000000. Programming in bytes up to 64-bit words
      (PSIZE); MicroPython's flash_write programs 32-bit words, so the
      program unit here is 4 bytes. No ECC: a cell can be programmed again
      as long as bits only go 1 -> 0.
  STM32H743 (2 MiB, two banks): 16 x 128 KiB from 0x08000000. Programming
      in 256-bit flash words (32 bytes) carrying ECC: a flash word is
      programmed once after an erase (programming it again, even with the
      same bits, gives ECC errors), so nothing is appended inside a word.

Partitions (erase units of the chip; each store owns whole units, never
sharing one with another store, and a journal needs >= 2 of them):

  STM32F767: dtc = sectors 1-2 (2 x 32 KiB, 0x08008000; the small sectors
      MicroPython uses for its internal filesystem, which this firmware does
      not mount): the log that is written often gets the shortest erase;
      config = sectors 10-11 (2 x 256 KiB, 0x08180000, the top of flash):
      written rarely, it compacts about once per 14000 changes. (Dual-bank
      mode would give 16 KiB units in a second bank, but the MicroPython
      stm32 flash driver supports the F767 only with dual-bank disabled.)
  STM32H743: config = bank-2 sectors 6-7 (2 x 128 KiB, 0x081C0000),
      dtc = bank-2 sectors 4-5 (2 x 128 KiB, 0x08180000).

Everything between the application image and these partitions is free
for firmware image slots (issue 13 owns that map).

    CHIPS[name] = (program_unit, ecc, ((base, erase_unit, count), ...))
    PARTITIONS[name][role] = (address, erase_unit, n_units)
"""

FLASH_BASE = 0x08000000

CHIPS = {
    "STM32F767": (4, False, ((0x08000000, 0x8000, 4), (0x08020000, 0x20000, 1), (0x08040000, 0x40000, 7))),
    "STM32H743": (32, True, ((0x08000000, 0x20000, 16),)),
}

PARTITIONS = {
    "STM32F767": {"dtc": (0x08008000, 0x8000, 2), "config": (0x08180000, 0x40000, 2)},
    "STM32H743": {"config": (0x081C0000, 0x20000, 2), "dtc": (0x08180000, 0x20000, 2)},
}

DEFAULT_CHIP = "STM32F767"


def erase_units(chip):
    """[(address, size)] of every erase unit of the chip, in address order."""
    out = []
    for base, size, count in CHIPS[chip][2]:
        for i in range(count):
            out.append((base + i * size, size))
    return out


def check_partition(chip, role):
    """The partition starts on an erase-unit boundary and spans whole units of
    the stated size (raises ValueError otherwise). Returns (addr, unit, n)."""
    addr, unit, n = PARTITIONS[chip][role]
    units = erase_units(chip)
    for i in range(len(units)):
        if units[i][0] == addr:
            for k in range(n):
                if i + k >= len(units) or units[i + k][1] != unit:
                    raise ValueError("%s %s: unit %d is not %d bytes" % (chip, role, k, unit))
            return addr, unit, n
    raise ValueError("%s %s: 0x%08x is not an erase-unit boundary" % (chip, role, addr))
