"""CRC-32 (IEEE 802.3 polynomial, reflected 0xEDB88320, init and xorout
0xFFFFFFFF), table driven. Written here because MicroPython ports do not all
ship binascii.crc32. Check value: crc32(b"123456789") == 0xCBF43926.
"""


def _make_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t.append(c)
    return tuple(t)


_TABLE = _make_table()


def crc32(data, crc=0, start=0, end=None):
    """CRC of data[start:end]; pass a previous result as `crc` to continue."""
    if end is None:
        end = len(data)
    t = _TABLE
    c = crc ^ 0xFFFFFFFF
    for i in range(start, end):
        c = t[(c ^ data[i]) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
