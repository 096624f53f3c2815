"""`make demo`'s NACS part passes on the box's own link and prints the phase
timeline in order: pilot, SLAC, link up, SDP, ND, TCP, then the V2G phases."""
from hil.scenarios import nacs_demo


def test_nacs_demo_passes_and_prints_the_timeline(capsys):
    assert nacs_demo.main() == 0
    out = capsys.readouterr().out
    order = ["pilot A -> B", "box   Handshake", "pilot 5 % oscillator on", "link  CM_SLAC_PARM.REQ",
             "link  CM_SLAC_MATCH.CNF", "link  car's modem joined the AVLN", "link  SDP request",
             "link  SDP response", "link  NS for the SECC's address", "link  NA", "link  TCP SYN",
             "link  TCP SYN+ACK", "car   SessionSetup", "car   CableCheck", "box   IsolationCheck", "car   PreCharge",
             "box   ContactorsClosed", "car   CurrentDemand", "box   Supplying", "car   PowerDeliveryStop",
             "car   WeldingDetection", "car   SessionStop", "box   ReadyToUnplug", "pilot B -> A"]
    pos = [out.index(s) for s in order]
    assert pos == sorted(pos), out
    assert "profile tesla-din" in out and "NACS discharge PASS" in out
    assert "on the box's own link" in out
