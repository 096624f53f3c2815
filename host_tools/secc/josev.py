"""Run Josev's EVCC (PyPI iso15118 in build/josev-venv) against `v2xbox secc` inside a
fresh network-namespace pair (root only). Shared by the interop tests and `make bench`."""
import json
import os
import subprocess
import sys
import tempfile

from host_tools.secc.netns import NetnsPair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOSEV_PY = os.path.join(ROOT, "build", "josev-venv", "bin", "python")
V2XBOX = [sys.executable, "-m", "host_tools.cli"]
# Josev's EVCC with its own simulated EV, only the -20 DC voltages made real (see the script)
JOSEV_EV = os.path.join(ROOT, "hil", "ccs", "evcc", "josev_ev.py")


class InteropError(Exception):
    pass


def check_env():
    if os.geteuid() != 0:
        raise InteropError("the SECC interop run creates network namespaces: run it as root (CI does)")
    if not os.path.exists(JOSEV_PY):
        raise InteropError("build/josev-venv missing: run `make setup`")


JOSEV_PROTOCOLS = {"din": "DIN_SPEC_70121", "iso2": "ISO_15118_2", "iso20dc": "ISO_15118_20_DC"}


def run_din_session(workdir=None, loops=12, secc_args=(), timeout_s=75):
    """One Josev DIN DC session against v2xbox secc. Returns (session record, Josev log text)."""
    return run_session("din", workdir, loops, secc_args, timeout_s)


def josev_pki(workdir, secc_cert_dir, profile="iso20"):
    """Josev's EVCC PKI layout (iso15118/shared/security.py CertPath/KeyPath, under PKI_PATH):
    the V2G root that signed the SECC chain in `secc_cert_dir`, and an OEM chain + key of its own
    (Josev's EVCC presents it when ENABLE_TLS_1_3). Returns PKI_PATH."""
    import shutil
    from host_tools.secc import pki
    root = os.path.join(workdir, "josev-pki")
    certs = os.path.join(root, "iso15118_2", "certs")
    keys = os.path.join(root, "iso15118_2", "private_keys")
    os.makedirs(certs, exist_ok=True)
    os.makedirs(keys, exist_ok=True)
    oem = pki.make_pki(os.path.join(workdir, "oem"), profile, leaf_cn="EVCC josev", root_cn="OEM Root CA (test)")
    shutil.copy(os.path.join(secc_cert_dir, pki.FILES["root"]), os.path.join(certs, "v2gRootCACert.pem"))
    shutil.copy(oem["chain"], os.path.join(certs, "oemCertChain.pem"))
    shutil.copy(oem["root"], os.path.join(certs, "oemRootCACert.pem"))
    shutil.copy(oem["leaf_key"], os.path.join(keys, "oemLeaf.key"))
    with open(os.path.join(keys, "oemLeafPassword.txt"), "w") as f:
        f.write("\n")      # the test key is not encrypted
    return root + "/"


def run_session(proto, workdir=None, loops=12, secc_args=(), timeout_s=75, services=None, tls_cert_dir=None,
                transport="kernel", pcap=None):
    """One Josev DC session (proto: din, iso2 or iso20dc) against v2xbox secc offering only that
    protocol. tls_cert_dir: run over TLS (Josev ENABLE_TLS_1_3, useTls) with the SECC's chain
    from there. transport "raw": the SECC runs the box's own IPv6/TCP stack on the box end of
    the veth (kernel IPv6 there switched off by the CLI); pcap: that run's frames to this file.
    Returns (session record, Josev log text)."""
    check_env()
    workdir = workdir or tempfile.mkdtemp(prefix="v2x-josev-")
    secc_args = ("--protocols", proto, "--transport", transport) + tuple(secc_args)
    if pcap is not None:
        secc_args = secc_args + ("--pcap", pcap)
    cfg = {"supportedProtocols": [JOSEV_PROTOCOLS[proto]], "energyTransferMode": "DC_extended",
           "isCertInstallNeeded": False, "useTls": False, "chargeLoopCycle": loops, "sdpRetryCycles": 1}
    tls_env = {}
    if tls_cert_dir is not None:
        cfg["useTls"] = True
        cfg["enforceTls"] = True
        tls_env = {"ENABLE_TLS_1_3": "true", "PKI_PATH": josev_pki(workdir, tls_cert_dir)}
        secc_args = secc_args + ("--tls", "--cert-dir", tls_cert_dir)
    if services:
        cfg["supportedEnergyServices"] = list(services)
    cfg_path = os.path.join(workdir, "evcc.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    log_path = os.path.join(workdir, "josev.log")
    with NetnsPair("v2xj%s%d" % ("r" if transport == "raw" else "", os.getpid() % 10000)) as ns:
        box = ns.popen_box(V2XBOX + ["secc", "--iface", ns.box_if, "--sessions", "1", "--timeout", str(timeout_s - 15)]
                           + list(secc_args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = box.stderr.readline()       # the SECC listens before the car starts looking for it
        notes = ""
        while line.startswith("v2xbox secc: switched"):     # raw: the kernel's IPv6 went off on box0
            notes += line
            line = box.stderr.readline()
        if "listening" not in line:
            raise InteropError("SECC did not start: " + notes + line + box.stderr.read())
        env = dict(os.environ, PYTHONUNBUFFERED="1", NETWORK_INTERFACE=ns.ev_if, LOG_LEVEL="INFO", MESSAGE_LOG_JSON="false",
                   MESSAGE_LOG_EXI="false", **tls_env)
        with open(log_path, "w") as f:
            ev = ns.popen_ev([JOSEV_PY, JOSEV_EV, cfg_path], stdout=f,
                             stderr=subprocess.STDOUT, env=env, cwd=workdir)
            try:
                out, err = box.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                box.kill()
                out, err = box.communicate()
            finally:
                ev.terminate()
                try:
                    ev.wait(5)
                except subprocess.TimeoutExpired:
                    ev.kill()
                    ev.wait(5)
    with open(log_path) as f:
        text = f.read()
    if box.returncode != 0:
        raise InteropError("SECC rc %s\n%s\n--- josev ---\n%s" % (box.returncode, err, text[-4000:]))
    recs = [json.loads(x) for x in out.splitlines() if x.strip()]
    if len(recs) != 1:
        raise InteropError("expected one session record, got:\n" + out)
    return recs[0], text


def roundtrips_ms(log_text, msg="CurrentDemand"):
    """EVCC-side round trips (ms) from a Josev EVCC log: 'Sent <msg>Req' to the next
    '<msg>Res received' (both logged by the EVCC, so both SECCs are timed the same way)."""
    import datetime
    out = []
    sent = None
    for line in log_text.splitlines():
        if "Sent %sReq" % msg in line or "%sRes received" % msg in line:
            try:
                stamp = " ".join(line.split(" - ")[0].split()[1:3])
                t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() * 1000.0
            except (ValueError, IndexError):
                continue
            if "Sent" in line:
                sent = t
            elif sent is not None:
                out.append(t - sent)
                sent = None
    return out


def run_josev_secc_session(workdir=None, loops=40, timeout_s=75):
    """Josev's own SECC (simulated EVSE) against the same EVCC as run_session, DIN DC.
    Returns the EVCC log text (the SECC's own log is beside it in workdir)."""
    import time
    check_env()
    workdir = workdir or tempfile.mkdtemp(prefix="v2x-josev-secc-")
    cfg = {"supportedProtocols": ["DIN_SPEC_70121"], "energyTransferMode": "DC_extended",
           "isCertInstallNeeded": False, "useTls": False, "chargeLoopCycle": loops, "sdpRetryCycles": 3}
    cfg_path = os.path.join(workdir, "evcc.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    ev_log = os.path.join(workdir, "josev-evcc.log")
    env = dict(os.environ, PYTHONUNBUFFERED="1", PROTOCOLS="DIN_SPEC_70121", LOG_LEVEL="INFO",
               MESSAGE_LOG_JSON="false", MESSAGE_LOG_EXI="false")
    with NetnsPair("v2xs%d" % (os.getpid() % 10000)) as ns:
        with open(os.path.join(workdir, "josev-secc.log"), "w") as sf, open(ev_log, "w") as ef:
            ns.popen_box([JOSEV_PY, "-m", "iso15118.secc.main"], stdout=sf, stderr=subprocess.STDOUT,
                         env=dict(env, NETWORK_INTERFACE=ns.box_if), cwd=workdir)
            time.sleep(4)       # the JVM and the SDP server come up
            ns.popen_ev([JOSEV_PY, JOSEV_EV, cfg_path], stdout=ef, stderr=subprocess.STDOUT,
                        env=dict(env, NETWORK_INTERFACE=ns.ev_if), cwd=workdir)
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                time.sleep(0.5)
                with open(ev_log) as f:
                    text = f.read()
                if "SessionStopRes received" in text or "Reason:" in text:
                    break
    with open(ev_log) as f:
        return f.read()
