"""Interop with a real peer: Josev's EVCC (PyPI iso15118, EXIficient codec in Java) runs a
full DIN SPEC 70121 DC session against `v2xbox secc` over kernel sockets, inside a pair
of network namespaces joined by a veth that this test creates and removes (root only:
CI runs `make test` as root)."""
import json
import os
import subprocess
import sys
import time

import pytest

from host_tools.secc.netns import NetnsPair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOSEV_PY = os.path.join(ROOT, "build", "josev-venv", "bin", "python")
V2XBOX = [sys.executable, "-m", "host_tools.cli"]
DIN_ORDER = ["SessionSetupReq", "ServiceDiscoveryReq", "ServicePaymentSelectionReq", "ContractAuthenticationReq",
             "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
             "PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]


def _need_root():
    assert os.geteuid() == 0, "the SECC interop test creates network namespaces: run it as root (CI does)"
    assert os.path.exists(JOSEV_PY), "build/josev-venv missing: run `make setup`"


def run_din_session(tmp_path, loops=12, secc_args=()):
    """One Josev DIN DC session against v2xbox secc. Returns (record, josev log text)."""
    cfg = {"supportedProtocols": ["DIN_SPEC_70121"], "energyTransferMode": "DC_extended",
           "isCertInstallNeeded": False, "useTls": False, "chargeLoopCycle": loops, "sdpRetryCycles": 1}
    (tmp_path / "evcc.json").write_text(json.dumps(cfg))
    ev_log = tmp_path / "josev.log"
    with NetnsPair("v2xt%d" % (os.getpid() % 10000)) as ns:
        box = ns.popen_box(V2XBOX + ["secc", "--iface", ns.box_if, "--sessions", "1", "--timeout", "60"]
                           + list(secc_args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        # the SECC listens before the car starts looking for it
        line = box.stderr.readline()
        assert "listening" in line, line + box.stderr.read()
        env = dict(os.environ, NETWORK_INTERFACE=ns.ev_if, LOG_LEVEL="INFO", MESSAGE_LOG_JSON="false",
                   MESSAGE_LOG_EXI="false")
        with open(ev_log, "w") as f:
            ev = ns.popen_ev([JOSEV_PY, "-m", "iso15118.evcc.main", str(tmp_path / "evcc.json")], stdout=f,
                             stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path))
            try:
                out, err = box.communicate(timeout=75)
            finally:
                ev.terminate()
                try:
                    ev.wait(5)
                except subprocess.TimeoutExpired:
                    ev.kill()
                    ev.wait(5)
    text = ev_log.read_text()
    assert box.returncode == 0, "SECC rc %s\n%s\n--- josev ---\n%s" % (box.returncode, err, text[-4000:])
    recs = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(recs) == 1, out
    return recs[0], text


def test_josev_evcc_completes_a_din_dc_session(tmp_path):
    _need_root()
    t0 = time.monotonic()
    rec, log = run_din_session(tmp_path, loops=12)
    assert time.monotonic() - t0 < 60
    assert rec["protocol"] == "din"
    assert [n for n, _c in rec["requests"]] == DIN_ORDER, rec
    counts = dict((n, c) for n, c in rec["requests"] if n != "PowerDeliveryReq")
    assert counts["CurrentDemandReq"] >= 10
    assert rec["current_demand_loops"] >= 10
    assert rec["ended"] == "session stop", rec
    assert "Communication session stopped successfully" in log, log[-3000:]
    assert "FAILED" not in log
    assert rec["energy_wh"] > 0
    assert rec["currentdemand_response_ms_p99"] is not None
