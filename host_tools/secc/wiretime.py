"""SECC response times on the wire: request in to response out, seen at the SECC's
own network interface, the same way for any SECC (ours or another implementation).

Method
  * capture: an AF_PACKET socket (ETH_P_ALL) bound to the SECC-side interface inside
    the SECC's network namespace, with SO_TIMESTAMPNS: every frame the interface
    receives or transmits carries the kernel's own timestamp, taken where the packet
    tap sees it (receive: when the frame enters the interface's receive path;
    transmit: when the stack hands the frame to the device). Written to a
    nanosecond pcap (host_tools/v2g/pcap.py), so the capture can be re-read with
    `v2xbox v2g decode` or any pcap tool;
  * decode: host_tools/v2g/decode.py reassembles each TCP direction, splits V2GTP
    messages and names them with the repo's EXI decoder (schema from the
    appHandshake). Each message carries the capture time of the segment that
    completed it ("t") and of the segment that began it ("t_first");
  * pair: a request of interest (CurrentDemandReq for DIN / ISO-2, DC_ChargeLoopReq
    for ISO-20) with the next response of the matching name on the same connection
    in the other direction; response time = t_first(response) - t(request), i.e.
    from the last segment of the request arriving to the first segment of the
    response leaving. A request with no response before the next request on that
    connection, or a response with no open request, is counted as unpaired, never
    guessed.

What the figure includes for either SECC: the kernel's TCP receive path, the
wake-up of the SECC process, its V2GTP / EXI decode, handling, encode, and the
kernel's TCP transmit path down to the interface. Both sides of a comparison are
captured by the same code at the same place.

    python -m host_tools.secc.wiretime capture --iface box0 --out x.pcap   # until SIGTERM / SIGINT
    python -m host_tools.secc.wiretime times x.pcap                        # JSON summary
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from host_tools.v2g import decode as dec
from host_tools.v2g import pcap

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35           # <asm-generic/socket.h>; cmsg data is struct timespec
SOL_PACKET = 263              # <linux/socket.h>
PACKET_AUXDATA = 8            # <linux/if_packet.h>: struct tpacket_auxdata per frame
TP_STATUS_CSUMNOTREADY = 1 << 3   # checksum left to the device (offload): complete it here
_AUX = struct.Struct("IIIHHHH")
LOOP_REQUESTS = ("CurrentDemandReq", "DC_ChargeLoopReq")
MAX_CLOCK_SKEW_S = 60.0       # a kernel stamp this far from the wall clock is not a real-time stamp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class WireTimeError(Exception):
    pass


# ---------------------------------------------------------------- capture
def capture(iface, path, stop, ready=None):
    """Capture every frame on `iface` into a nanosecond pcap at `path` until stop()
    is true. Returns the number of frames. ready(): called once the socket is bound."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise WireTimeError("an AF_PACKET capture needs root (CAP_NET_RAW)")
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        try:
            s.bind((iface, ETH_P_ALL))
        except OSError as e:
            raise WireTimeError("cannot capture on %s: %s" % (iface, e.strerror or e))
        s.settimeout(0.1)
        w = pcap.PcapWriter(path, nano=True)
        if ready is not None:
            ready()
        try:
            while not stop():
                try:
                    data, anc, _flags, _addr = s.recvmsg(262144, socket.CMSG_SPACE(16) + socket.CMSG_SPACE(_AUX.size))
                except socket.timeout:
                    continue
                except InterruptedError:
                    continue
                sec = nsec = None
                for lvl, typ, d in anc:
                    if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(d) >= 16:
                        sec, nsec = struct.unpack("qq", d[:16])
                    elif lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(d) >= _AUX.size:
                        if _AUX.unpack(d[:_AUX.size])[0] & TP_STATUS_CSUMNOTREADY:
                            data = complete_checksum(data)
                if sec is None:
                    raise WireTimeError("frame without a kernel timestamp (SO_TIMESTAMPNS not honoured)")
                if abs(sec - time.time()) > MAX_CLOCK_SKEW_S:
                    raise WireTimeError("kernel timestamp %d s is not wall-clock time" % sec)
                w.write_ns(sec, nsec, data)
            return w.count
        finally:
            w.close()
    finally:
        s.close()


def complete_checksum(frame):
    """The frame with its IPv6 TCP / UDP checksum computed (the device's job under
    checksum offload); other frames unchanged."""
    from firmware.protocols.ccs.net import ipv6
    if len(frame) < 54 or frame[12:14] != b"\x86\xdd":
        return frame
    nh = frame[20]
    where = {ipv6.NH_TCP: 16, ipv6.NH_UDP: 6}.get(nh)
    plen = (frame[18] << 8) | frame[19]
    if where is None or 54 + plen > len(frame) or plen < where + 2:
        return frame
    b = bytearray(frame)
    p = bytearray(b[54:54 + plen])
    ipv6.with_checksum(bytes(b[22:38]), bytes(b[38:54]), nh, p, where)
    b[54:54 + plen] = p
    return bytes(b)


class Capture:
    """The capture as a child process inside a namespace of a NetnsPair:

        with Capture(ns, ns.box_ns, ns.box_if, path):
            ... run the session ...
        times = response_times(path)

    The child is started (and has bound its socket) before the block runs and is
    stopped with SIGTERM after it; the pcap is complete when the block exits."""

    def __init__(self, pair, netns, iface, path):
        self.pair = pair
        self.netns = netns
        self.iface = iface
        self.path = path
        self.proc = None

    def __enter__(self):
        self.proc = self.pair.popen(self.netns, [sys.executable, "-m", "host_tools.secc.wiretime", "capture",
                                                 "--iface", self.iface, "--out", self.path],
                                    stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stderr.readline()
        if "capturing" not in line:
            self.proc.kill()
            self.proc.wait(5)
            raise WireTimeError("capture did not start: " + line + self.proc.stderr.read())
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        time.sleep(0.2)          # the last frames reach the socket
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        if p.returncode != 0:
            raise WireTimeError("capture ended with rc %s: %s" % (p.returncode, err))


# ---------------------------------------------------------------- analysis
def _reverse(conn):
    a, _, b = conn.partition(" > ")
    return b + " > " + a


def pair_messages(events, requests=LOOP_REQUESTS):
    """Pairs from decoded capture events (host_tools.v2g.decode): returns
    (pairs, unpaired) with pairs = [{"req", "res", "conn", "t_req", "t_res", "ms"}]."""
    open_req = {}        # conn of the request -> (name, t of its last segment)
    pairs = []
    unpaired = 0
    for e in events:
        if e.get("layer") != "v2gtp" or "exi" not in e:
            continue
        name = dec._exi_name(e["exi"])
        conn = e["conn"]
        if name in requests:
            if conn in open_req:
                unpaired += 1            # the previous one was never answered
            open_req[conn] = (name, e["t"])
        elif name.endswith("Res"):
            rc = _reverse(conn)
            req = open_req.get(rc)
            if req is None:
                if name[:-3] + "Req" in requests:
                    unpaired += 1
                continue
            if req[0][:-3] + "Res" != name:
                continue                 # another message on that connection (not a reply to it)
            del open_req[rc]
            t_res = e.get("t_first", e["t"])
            pairs.append({"req": req[0], "res": name, "conn": rc, "t_req": req[1], "t_res": t_res,
                          "ms": round((t_res - req[1]) * 1000.0, 3)})
    return pairs, unpaired + len(open_req)


def response_times(path, requests=LOOP_REQUESTS):
    """(pairs, unpaired) of a capture file (see pair_messages)."""
    return pair_messages(dec.decode_frames(pcap.read_capture(path)), requests)


def pct(xs, q):
    """Nearest-rank percentile of xs (q in 0..1), None for no samples."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def summary(pairs, unpaired):
    ms = [p["ms"] for p in pairs]
    return {"n": len(ms), "unpaired": unpaired, "p50_ms": pct(ms, 0.5), "p99_ms": pct(ms, 0.99),
            "max_ms": max(ms) if ms else None, "min_ms": min(ms) if ms else None}


# ---------------------------------------------------------------- CLI
def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m host_tools.secc.wiretime")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture", help="capture an interface into a nanosecond pcap until SIGTERM")
    c.add_argument("--iface", required=True)
    c.add_argument("--out", required=True)
    t = sub.add_parser("times", help="request-in to response-out times of a capture, JSON")
    t.add_argument("capture")
    t.add_argument("--request", action="append", default=None,
                   help="request name to pair (default: %s)" % ", ".join(LOOP_REQUESTS))
    args = ap.parse_args(argv)
    if args.cmd == "capture":
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
        try:
            n = capture(args.iface, args.out, lambda: bool(stopping),
                        ready=lambda: print("capturing on %s" % args.iface, file=sys.stderr, flush=True))
        except (WireTimeError, OSError) as e:
            print("wiretime: %s" % e, file=sys.stderr)
            return 2
        print("wiretime: %d frames" % n, file=sys.stderr)
        return 0
    try:
        pairs, unpaired = response_times(args.capture, tuple(args.request or LOOP_REQUESTS))
    except pcap.CaptureError as e:
        print("wiretime: %s" % e, file=sys.stderr)
        return 2
    print(json.dumps(summary(pairs, unpaired)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
