"""ISO 15118-20 TLS 1.3 on the kernel transport, with a test V2G PKI made here.

Part 1 (no root): the generated chains (curves, signatures, path) and the SECC's server
context against Python ssl clients over a socketpair: TLS 1.3, chain verified against the
V2G root, and the refusals (wrong root, expired leaf, TLS 1.2 for -20).
Part 2 (root, namespaces the test creates): `v2xbox secc --tls --cert-dir` in one namespace,
an ssl client in the other: SDP security 0x00 -> TLS port, a -20 SAP + SessionSetup over
TLS 1.3, refused handshakes logged and the transport still serving afterwards, and -20
not selected on plain TCP."""
import datetime
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448

import firmware  # noqa: F401
from firmware.protocols.ccs import sdp, v2gtp
from firmware.v2g.exi import codec_for
from host_tools.secc import pki
from host_tools.secc.kernel_transport import server_context

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _client_ctx(root_pem, max_version=ssl.TLSVersion.TLSv1_3, min_version=ssl.TLSVersion.TLSv1_3):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False          # V2G peers are link-local addresses: the chain is what is checked
    c.minimum_version = min_version
    c.maximum_version = max_version
    c.load_verify_locations(root_pem)
    return c


def _pair_handshake(sctx, cctx):
    """Handshake over a socketpair. -> (client result, server result): (version, cipher, peer CN) or exception."""
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    out = {}

    def srv():
        try:
            s = sctx.wrap_socket(a, server_side=True)
            out["s"] = (s.version(), s.cipher()[0])
            s.close()
        except (ssl.SSLError, OSError) as e:
            out["s"] = e
            a.close()

    th = threading.Thread(target=srv)
    th.start()
    try:
        c = cctx.wrap_socket(b)
        cn = dict(x[0] for x in c.getpeercert()["subject"])["commonName"]
        res = (c.version(), c.cipher()[0], cn)
        c.close()
    except (ssl.SSLError, OSError) as e:
        res = e
        b.close()
    th.join(10)
    return res, out.get("s")


@pytest.mark.parametrize("profile,curve", [("iso2", "secp256r1"), ("iso20", "secp521r1"), ("iso20-ed448", "ed448")])
def test_pki_chain_has_the_curves_and_verifies(tmp_path, profile, curve):
    p = pki.make_pki(str(tmp_path), profile)
    leaf, sub2, sub1 = pki.load_chain(p["chain"])
    root = pki.load_chain(p["root"])[0]
    for c in (root, sub1, sub2, leaf):
        k = c.public_key()
        if curve == "ed448":
            assert isinstance(k, ed448.Ed448PublicKey)
            assert c.signature_hash_algorithm is None
        else:
            assert isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == curve
            assert c.signature_hash_algorithm.name == ("sha256" if curve == "secp256r1" else "sha512")
    leaf.verify_directly_issued_by(sub2)
    sub2.verify_directly_issued_by(sub1)
    sub1.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    with pytest.raises(Exception):
        leaf.verify_directly_issued_by(root)      # the leaf is not signed by the root directly


@pytest.mark.parametrize("profile", ["iso20", "iso20-ed448"])
def test_tls13_handshake_verifies_the_chain_against_the_v2g_root(tmp_path, profile):
    p = pki.make_pki(str(tmp_path), profile)
    cli, srv = _pair_handshake(server_context(str(tmp_path), "1.3"), _client_ctx(p["root"]))
    assert cli == ("TLSv1.3", srv[1], "SECC v2xbox"), cli
    assert srv[0] == "TLSv1.3"


def test_wrong_root_is_refused(tmp_path):
    pki.make_pki(str(tmp_path / "box"), "iso20")
    other = pki.make_pki(str(tmp_path / "other"), "iso20")
    cli, _srv = _pair_handshake(server_context(str(tmp_path / "box"), "1.3"), _client_ctx(other["root"]))
    assert isinstance(cli, ssl.SSLCertVerificationError), cli
    assert "unable to get local issuer certificate" in str(cli)


def test_expired_leaf_is_refused(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    p = pki.make_pki(str(tmp_path), "iso20", leaf_not_before=now - datetime.timedelta(days=30),
                     leaf_not_after=now - datetime.timedelta(days=1))
    cli, _srv = _pair_handshake(server_context(str(tmp_path), "1.3"), _client_ctx(p["root"]))
    assert isinstance(cli, ssl.SSLCertVerificationError), cli
    assert "certificate has expired" in str(cli)


def test_tls12_for_iso20_is_refused_by_the_secc(tmp_path):
    p = pki.make_pki(str(tmp_path), "iso20")
    cli, srv = _pair_handshake(server_context(str(tmp_path), "1.3"),
                               _client_ctx(p["root"], ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
    assert isinstance(cli, ssl.SSLError), cli
    assert isinstance(srv, ssl.SSLError) and srv.reason == "UNSUPPORTED_PROTOCOL", srv


def test_mutual_auth_needs_an_ev_chain_to_the_client_ca(tmp_path):
    """Optional mutual auth (-20: the EVCC presents its OEM chain): without a certificate, or with
    one from an untrusted root, the SECC refuses; with the OEM chain it accepts."""
    box = pki.make_pki(str(tmp_path / "box"), "iso20")
    oem = pki.make_pki(str(tmp_path / "oem"), "iso20", leaf_cn="EVCC test", root_cn="OEM Root CA (test)")
    rogue = pki.make_pki(str(tmp_path / "rogue"), "iso20", leaf_cn="EVCC rogue")
    sctx = server_context(str(tmp_path / "box"), "1.3", verify_client=True, client_ca=oem["root"])

    def client(chain=None):
        c = _client_ctx(box["root"])
        if chain is not None:
            c.load_cert_chain(chain["chain"], chain["leaf_key"])
        return c

    cli, srv = _pair_handshake(sctx, client(oem))
    assert cli[0] == "TLSv1.3" and srv[0] == "TLSv1.3", (cli, srv)
    for who in (None, rogue):
        cli, srv = _pair_handshake(sctx, client(who))
        # in TLS 1.3 the client may finish its side before the server's verdict arrives
        assert isinstance(srv, ssl.SSLError), srv
        assert srv.reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_VERIFY_FAILED"), srv


def test_server_context_rejects_a_bad_cert_dir(tmp_path):
    with pytest.raises((OSError, ssl.SSLError)):
        server_context(str(tmp_path), "1.3")
    with pytest.raises(ValueError):
        server_context(str(tmp_path), "1.1")
    with pytest.raises(ValueError):
        pki.make_pki(str(tmp_path), "rsa")


# ----------------------------------------------------------------- part 2: on the wire (root)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creates network namespaces (CI runs as root)")

SAP20 = {"supportedAppProtocolReq": {"AppProtocol": [
    {"ProtocolNamespace": "urn:iso:std:iso:15118:-20:DC", "VersionNumberMajor": 1, "VersionNumberMinor": 0,
     "SchemaID": 1, "Priority": 1}]}}
SESSION_SETUP = {"SessionSetupReq": {"Header": {"SessionID": bytes(8), "TimeStamp": 0}, "EVCCID": "WMIV1234567890ABCDEF"}}


def _recv(s):
    hdr = b""
    while len(hdr) < 8:
        x = s.recv(8 - len(hdr))
        if not x:
            raise ConnectionError("closed")
        hdr += x
    ptype, n = struct.unpack(">HI", hdr[2:8])
    body = b""
    while len(body) < n:
        x = s.recv(n - len(body))
        if not x:
            raise ConnectionError("closed")
        body += x
    return ptype, body


class _Rig:
    def __init__(self, ns, cert_dir, err_path):
        from hil.ccs import netns as hn
        self.hn = hn
        self.ns = ns
        self.ifindex = int(hn.sh("cat", "/sys/class/net/%s/ifindex" % ns.ev_if, ns=ns.ev_ns).stdout.strip())
        self.err_path = err_path

    def sdp(self, security):
        s = self.hn.socket_in(self.ns.ev_ns, socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
            s.settimeout(0.25)
            for _ in range(20):
                s.sendto(sdp.encode_request(security), ("ff02::1", sdp.UDP_PORT, 0, self.ifindex))
                try:
                    data, _a = s.recvfrom(2048)
                except socket.timeout:
                    continue
                return sdp.decode_response(data)
            raise TimeoutError("no SDP response")
        finally:
            s.close()

    def connect(self, addr, port):
        s = self.hn.socket_in(self.ns.ev_ns, socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((socket.inet_ntop(socket.AF_INET6, addr), port, 0, self.ifindex))
        return s

    def refusals(self):
        with open(self.err_path) as f:
            return [json.loads(x)["tls_refused"] for x in f if x.startswith('{"tls_refused"')]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("creates network namespaces (CI runs as root)")
    from host_tools.secc.netns import NetnsPair
    d = tmp_path_factory.mktemp("tls")
    paths = pki.make_pki(str(d / "pki"), "iso20")
    err = str(d / "secc.err")
    with NetnsPair("v2xt%d" % (os.getpid() % 10000)) as ns:
        with open(err, "w") as ef:
            box = ns.popen_box([sys.executable, "-m", "host_tools.cli", "secc", "--iface", ns.box_if, "--sessions", "0",
                                "--protocols", "iso20dc", "--tls", "--cert-dir", str(d / "pki"), "--timeout", "120"],
                               stdout=subprocess.DEVNULL, stderr=ef, cwd=ROOT)
        end = time.monotonic() + 20
        while '"listening"' not in open(err).read():
            assert box.poll() is None, open(err).read()
            assert time.monotonic() < end, open(err).read()
            time.sleep(0.05)
        r = _Rig(ns, str(d / "pki"), err)
        r.paths = paths
        r.other = pki.make_pki(str(d / "other"), "iso20")
        r.box = box
        yield r


@needs_root
def test_sdp_advertises_tls_and_plain_by_the_evs_wish(rig):
    addr, tls_port, sec, tr = rig.sdp(sdp.SECURITY_TLS)
    assert (sec, tr) == (sdp.SECURITY_TLS, sdp.TRANSPORT_TCP)
    addr2, tcp_port, sec2, _ = rig.sdp(sdp.SECURITY_NONE)
    assert sec2 == sdp.SECURITY_NONE and addr2 == addr and tcp_port != tls_port


def _session_over_tls(rig, ctx):
    addr, port, _s, _t = rig.sdp(sdp.SECURITY_TLS)
    s = ctx.wrap_socket(rig.connect(addr, port))
    try:
        assert s.version() == "TLSv1.3"
        s.sendall(v2gtp.frame(v2gtp.EXI, codec_for("app").encode(SAP20)))
        pt, body = _recv(s)
        res = codec_for("app").decode(body)["supportedAppProtocolRes"]
        assert pt == v2gtp.EXI and res["ResponseCode"] == "OK_SuccessfulNegotiation", res
        s.sendall(v2gtp.frame(v2gtp.ISO20_MAIN, codec_for("iso20").encode(SESSION_SETUP)))
        pt, body = _recv(s)
        res = codec_for("iso20").decode(body)["SessionSetupRes"]
        assert pt == v2gtp.ISO20_MAIN and res["ResponseCode"] == "OK_NewSessionEstablished", res
        assert len(res["Header"]["SessionID"]) == 8 and res["Header"]["SessionID"] != bytes(8)
        return res
    finally:
        s.close()


@needs_root
def test_iso20_session_over_tls13_and_refusals_leave_the_transport_serving(rig):
    n0 = len(rig.refusals())
    addr, port, _s, _t = rig.sdp(sdp.SECURITY_TLS)
    # TLS 1.2 offered for -20: the SECC refuses the handshake (and says why)
    with pytest.raises(ssl.SSLError):
        _client_ctx(rig.paths["root"], ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2).wrap_socket(
            rig.connect(addr, port))
    # the EV does not trust the SECC's chain (another V2G root): it aborts, the SECC logs it
    with pytest.raises(ssl.SSLCertVerificationError):
        _client_ctx(rig.other["root"]).wrap_socket(rig.connect(addr, port))
    # a TCP peer that never speaks TLS is dropped after the handshake timeout, without blocking the SECC
    idle = rig.connect(addr, port)
    # a proper -20 car still gets its session over TLS 1.3 while the idle one hangs
    _session_over_tls(rig, _client_ctx(rig.paths["root"]))
    end = time.monotonic() + 10
    while len(rig.refusals()) < n0 + 3 and time.monotonic() < end:
        time.sleep(0.1)
    idle.close()
    got = rig.refusals()[n0:]
    assert any("UNSUPPORTED_PROTOCOL" in r for r in got), got
    assert any("UNKNOWN_CA" in r.upper() for r in got), got
    assert any("handshake timeout" in r for r in got), got
    assert rig.box.poll() is None


@needs_root
def test_iso20_is_not_selected_on_plain_tcp_when_tls_is_on(rig):
    time.sleep(0.2)      # the previous session's connection is released
    addr, port, sec, _t = rig.sdp(sdp.SECURITY_NONE)
    assert sec == sdp.SECURITY_NONE
    s = rig.connect(addr, port)
    try:
        s.sendall(v2gtp.frame(v2gtp.EXI, codec_for("app").encode(SAP20)))
        pt, body = _recv(s)
        res = codec_for("app").decode(body)["supportedAppProtocolRes"]
        assert res["ResponseCode"] == "Failed_NoNegotiation", res
    finally:
        s.close()
    _session_over_tls(rig, _client_ctx(rig.paths["root"]))   # and TLS still works after it
