"""A power cut at every flash operation of an update (every erase, every
transfer block, every boot-state record, the trial boot and the
confirmation), on flash with the real erase and program granularity:
after the cut the box always boots a verified image -- the old one, or the
new one only once its trial record is complete -- and a trial that never
confirms is reverted at the next reset."""
import pytest

from firmware.diag import image as I
from firmware.diag.slots import NONE
from firmware.hal.sim import PowerLoss
from tests.diag.flashmodel import GranularFlash, ProgramError
from tests.diag.harness import Box, make_image

V1 = I.version_int(0, 2, 0)
V2 = I.version_int(0, 3, 0)
TARGETS = {"h743": (128 * 1024, 32, 2), "f767": (32 * 1024, 16, 4)}


def _update(box, img):
    box.run(1100)
    box.enter_programming()
    assert box.download(img, block=4093) == I.OK
    assert box.request(b"\x11\x01") == b"\x51\x01"
    box.power_cycle()
    box.run(2500)                      # self-test, then confirmation


def _installed(target):
    ss, word, n = TARGETS[target]
    fl = GranularFlash((2 + 2 * n) * ss, ss, word)
    box = Box(flash=fl, slot_sectors=n)
    _update(box, make_image(version=(0, 2, 0), pad=30000))
    assert box.version == V1 and box.slots.state.confirmed == box.slots.running
    return fl


def _boot_verified(fl, n):
    box = Box(flash=fl, slot_sectors=n)
    s = box.slots
    if s.running != NONE:
        assert s.verify_slot(s.running)[0] == I.OK
    return box


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_power_cut_at_every_flash_operation(target):
    ss, word, n = TARGETS[target]
    img2 = make_image(version=(0, 3, 0), pad=40000)
    base = _installed(target)
    # count the operations of an uninterrupted update
    probe = GranularFlash(base.size, ss, word)
    probe.mem[:] = base.mem
    box = Box(flash=probe, slot_sectors=n)
    start = probe.ops
    _update(box, img2)
    total = probe.ops - start
    assert box.version == V2 and total > 15          # erases, blocks, records
    seen = set()
    for k in range(total):
        fl = GranularFlash(base.size, ss, word)
        fl.mem[:] = base.mem
        box = Box(flash=fl, slot_sectors=n)
        fl.cut_at = fl.ops + k
        try:
            _update(box, img2)
        except (PowerLoss, AssertionError, TypeError):
            pass
        assert fl.dead, "operation %d was not reached" % k
        fl.power_on()
        box = _boot_verified(fl, n)
        st = box.slots.state
        assert box.version in (V1, V2)
        if box.version == V2 and st.confirmed != box.slots.running:
            # a trial: it must either confirm now, or revert on the next reset
            seen.add("trial")
            box.run(2500)
            assert box.slots.state.confirmed == box.slots.running
        elif box.version == V2:
            seen.add("new")
        else:
            seen.add("old")
        # the box still takes the update after the cut
        box = Box(flash=fl, slot_sectors=n)
        if box.version != V2:
            _update(box, img2)
            assert box.version == V2
    assert "old" in seen and ("trial" in seen or "new" in seen)


def test_unconfirmed_trial_reverts():
    fl = _installed("h743")
    box = Box(flash=fl, slot_sectors=2)
    box.run(1100)
    box.enter_programming()
    assert box.download(make_image(version=(0, 3, 0)), block=1000) == I.OK
    box.request(b"\x11\x01")
    box.power_cycle()
    assert box.version == V2 and box.slots.state.trial == box.slots.running
    box.power_cycle()                  # reset before the self-test confirmed it
    assert box.version == V1 and box.slots.state.trial == NONE


def test_flash_model_refuses_double_programming():
    fl = GranularFlash(4 * 1024, 1024, 32)
    fl.write(0, b"\x00" * 32)
    with pytest.raises(ProgramError):
        fl.write(0, b"\x00" * 32)
    with pytest.raises(ProgramError):
        fl.write(40, b"\x00" * 32)
