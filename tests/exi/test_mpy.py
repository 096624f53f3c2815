"""The device codec compiles with mpy-cross for the STM32 (armv7emsp)."""
from tools.exigen.mpysize import compile_all


def test_codec_compiles_with_mpy_cross(tmp_path):
    sizes = compile_all(str(tmp_path))
    assert len(sizes) >= 8
    # each module must stay small enough to import on the MCU
    for rel, n in sizes.items():
        assert n < 64 * 1024, (rel, n)
