"""`make demo`'s NACS part passes and prints the phase timeline in order."""
from hil.scenarios import nacs_demo


def test_nacs_demo_passes_and_prints_the_timeline(capsys):
    assert nacs_demo.main() == 0
    out = capsys.readouterr().out
    order = ["box  Handshake", "car  SessionSetup", "car  CableCheck", "box  IsolationCheck", "car  PreCharge",
             "box  ContactorsClosed", "car  CurrentDemand", "box  Supplying", "car  PowerDeliveryStop",
             "car  WeldingDetection", "car  SessionStop", "box  ReadyToUnplug"]
    pos = [out.index(s) for s in order]
    assert pos == sorted(pos), out
    assert "profile tesla-din" in out and "NACS discharge PASS" in out
