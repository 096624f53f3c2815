"""HomePlug Green PHY management messages (MMEs) used by SLAC, ISO 15118-3.

Sans-IO codec: whole Ethernet frames in, dicts out (`decode`), and one
builder per message the EVSE sends. Layout facts (offsets, lengths) are from
the HomePlug Green PHY 1.1 specification as laid out in the reference PEV's
header (qca/open-plc-utils slac/slac.h) and ISO 15118-3 Annex A; see
/work/shared/reference/ccs-nacs-dc-handshake.md section 3.

Frame = dst(6) src(6) ethertype 0x88E1(2) MMV(1) MMTYPE(2, little-endian)
        [FMSN(1) FMID(1) when MMV >= 1] payload, padded to 60 bytes.
The low two bits of MMTYPE select REQ 0 / CNF 1 / IND 2 / RSP 3.

`decode` raises MmeError for a malformed frame (the caller counts it, by
`MmeError.kind`); vendor-specific MMEs (0xA000..0xBFFF) and management
messages SLAC does not use come back as kind "vendor" / "other" so the
caller can ignore them without calling them errors.
"""
from micropython import const

ETH_P_HPAV = const(0x88E1)
ETH_MIN = const(60)            # minimum frame without FCS (IEEE 802.3)
HDR_MMV1 = const(19)           # 14 Ethernet + MMV + MMTYPE + FMSN + FMID
HDR_MMV0 = const(17)           # MMV 0 (e.g. Qualcomm vendor MMEs) has no fragment info

MMV_HPAV11 = const(1)          # HomePlug AV 1.1 / Green PHY

REQ = const(0)
CNF = const(1)
IND = const(2)
RSP = const(3)

CM_SET_KEY = const(0x6008)
CM_SLAC_PARM = const(0x6064)
CM_START_ATTEN_CHAR = const(0x6068)
CM_ATTEN_CHAR = const(0x606C)
CM_MNBC_SOUND = const(0x6074)
CM_VALIDATE = const(0x6078)
CM_SLAC_MATCH = const(0x607C)
CM_ATTEN_PROFILE = const(0x6084)

VENDOR_MIN = const(0xA000)     # HomePlug AV: 0xA000..0xBFFF manufacturer specific
VENDOR_MAX = const(0xBFFF)

APP_PEV_EVSE = const(0)        # APPLICATION_TYPE 0 = PEV-EVSE association
SEC_NONE = const(0)
SEC_PUBKEY = const(1)

RUNID_LEN = const(8)
STATION_ID_LEN = const(17)             # PEV_ID / EVSE_ID / SOURCE_ID / RESP_ID
NID_LEN = const(7)
NMK_LEN = const(16)
MAX_GROUPS = const(58)         # attenuation groups for the Green PHY carrier set

BROADCAST = b"\xff\xff\xff\xff\xff\xff"
# Management address every Qualcomm modem answers for its own host ("local cast").
MODEM_LOCAL = b"\x00\xb0\x52\x00\x00\x01"

NAMES = {
    CM_SET_KEY: "CM_SET_KEY",
    CM_SLAC_PARM: "CM_SLAC_PARM",
    CM_START_ATTEN_CHAR: "CM_START_ATTEN_CHAR",
    CM_ATTEN_CHAR: "CM_ATTEN_CHAR",
    CM_MNBC_SOUND: "CM_MNBC_SOUND",
    CM_VALIDATE: "CM_VALIDATE",
    CM_SLAC_MATCH: "CM_SLAC_MATCH",
    CM_ATTEN_PROFILE: "CM_ATTEN_PROFILE",
}
KIND_NAMES = (".REQ", ".CNF", ".IND", ".RSP")


class MmeError(ValueError):
    """Malformed frame. `kind` names the counter the caller increments."""

    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


def name_of(mmtype):
    base = mmtype & 0xFFFC
    n = NAMES.get(base)
    if n is None:
        return "MMTYPE_0x%04X" % mmtype
    return n + KIND_NAMES[mmtype & 3]


def _le16(b, i):
    return b[i] | (b[i + 1] << 8)


def _need(payload, n, what):
    if len(payload) < n:
        raise MmeError("short", "%s: %d payload bytes, need %d" % (what, len(payload), n))


def _app_sec(payload, what):
    if payload[0] != APP_PEV_EVSE:
        raise MmeError("field", "%s: APPLICATION_TYPE %d is not PEV-EVSE" % (what, payload[0]))
    if payload[1] not in (SEC_NONE, SEC_PUBKEY):
        raise MmeError("field", "%s: SECURITY_TYPE %d unknown" % (what, payload[1]))


def header(frame):
    """(dst, src, mmv, mmtype, payload offset) of an 0x88E1 frame, or MmeError."""
    if len(frame) < HDR_MMV0:
        raise MmeError("short", "frame of %d bytes is shorter than an MME header" % len(frame))
    if (frame[12] << 8 | frame[13]) != ETH_P_HPAV:
        raise MmeError("ethertype", "not a HomePlug AV frame")
    mmv = frame[14]
    mmtype = _le16(frame, 15)
    if mmv == 0:
        off = HDR_MMV0
    elif mmv <= 2:
        off = HDR_MMV1
        if len(frame) < off:
            raise MmeError("short", "MMV %d frame too short for its fragment header" % mmv)
        if frame[17] & 0xF0 or frame[18]:
            # FMI: number of fragments / fragment number; SLAC MMEs are never fragmented
            if (mmtype & 0xFFFC) in NAMES:
                raise MmeError("fragment", "%s arrived fragmented" % name_of(mmtype))
    else:
        raise MmeError("mmv", "unknown MMV %d" % mmv)
    return bytes(frame[0:6]), bytes(frame[6:12]), mmv, mmtype, off


def decode(frame):
    """Decode one Ethernet frame into a dict with at least 'type' (MMTYPE),
    'name', 'dst', 'src'. Raises MmeError on malformed frames."""
    dst, src, mmv, mmtype, off = header(frame)
    p = memoryview(frame)[off:]
    m = {"type": mmtype, "name": name_of(mmtype), "dst": dst, "src": src, "mmv": mmv}
    if VENDOR_MIN <= mmtype <= VENDOR_MAX:
        m["kind"] = "vendor"
        return m
    if (mmtype & 0xFFFC) not in NAMES:
        m["kind"] = "other"
        return m
    if mmv != MMV_HPAV11:
        raise MmeError("mmv", "%s with MMV %d" % (m["name"], mmv))
    m["kind"] = "slac"
    what = m["name"]
    if mmtype == CM_SLAC_PARM | REQ:
        _need(p, 10, what)
        _app_sec(p, what)
        m["app"] = p[0]
        m["sec"] = p[1]
        m["run_id"] = bytes(p[2:10])
        if p[1] == SEC_PUBKEY:
            _need(p, 11, what)
            n = p[10]
            _need(p, 11 + 2 * n, what)
            m["cipher_suites"] = [_le16(p, 11 + 2 * i) for i in range(n)]
    elif mmtype == CM_SLAC_PARM | CNF:
        _need(p, 25, what)
        m["msound_target"] = bytes(p[0:6])
        m["num_sounds"] = p[6]
        m["time_out"] = p[7]
        m["resp_type"] = p[8]
        m["forwarding_sta"] = bytes(p[9:15])
        _app_sec(p[15:], what)
        m["run_id"] = bytes(p[17:25])
    elif mmtype == CM_START_ATTEN_CHAR | IND:
        _need(p, 19, what)
        _app_sec(p, what)
        m["num_sounds"] = p[2]
        m["time_out"] = p[3]
        m["resp_type"] = p[4]
        m["forwarding_sta"] = bytes(p[5:11])
        m["run_id"] = bytes(p[11:19])
        if p[2] == 0:
            raise MmeError("field", "%s: NUM_SOUNDS 0" % what)
    elif mmtype == CM_MNBC_SOUND | IND:
        # Full layout is 52 bytes (.. RSVD(8) RND(16)); the reference PEV sends the
        # fields up to RunID and a truncated tail, so only those 28 are required.
        _need(p, 28, what)
        _app_sec(p, what)
        m["sender_id"] = bytes(p[2:19])
        m["cnt"] = p[19]
        m["run_id"] = bytes(p[20:28])
    elif mmtype == CM_ATTEN_PROFILE | IND:
        _need(p, 8, what)
        n = p[6]
        if n == 0 or n > MAX_GROUPS:
            raise MmeError("field", "%s: NumGroups %d" % (what, n))
        _need(p, 8 + n, what)
        m["pev_mac"] = bytes(p[0:6])
        m["aag"] = bytes(p[8:8 + n])
    elif mmtype == CM_ATTEN_CHAR | IND:
        _need(p, 52, what)
        _app_sec(p, what)
        n = p[51]
        if n > MAX_GROUPS:
            raise MmeError("field", "%s: NumGroups %d" % (what, n))
        _need(p, 52 + n, what)
        m["source_address"] = bytes(p[2:8])
        m["run_id"] = bytes(p[8:16])
        m["num_sounds"] = p[50]
        m["aag"] = bytes(p[52:52 + n])
    elif mmtype == CM_ATTEN_CHAR | RSP:
        _need(p, 51, what)
        _app_sec(p, what)
        m["source_address"] = bytes(p[2:8])
        m["run_id"] = bytes(p[8:16])
        m["result"] = p[50]
    elif mmtype == CM_SLAC_MATCH | REQ:
        _need(p, 66, what)
        _app_sec(p, what)
        mvf = _le16(p, 2)
        if mvf != 0x3E:
            raise MmeError("field", "%s: MVFLength %d, expected 62" % (what, mvf))
        m["pev_id"] = bytes(p[4:21])
        m["pev_mac"] = bytes(p[21:27])
        m["evse_id"] = bytes(p[27:44])
        m["evse_mac"] = bytes(p[44:50])
        m["run_id"] = bytes(p[50:58])
    elif mmtype == CM_SLAC_MATCH | CNF:
        _need(p, 90, what)
        _app_sec(p, what)
        m["pev_mac"] = bytes(p[21:27])
        m["evse_mac"] = bytes(p[44:50])
        m["run_id"] = bytes(p[50:58])
        m["nid"] = bytes(p[66:73])
        m["nmk"] = bytes(p[74:90])
    elif mmtype == CM_SET_KEY | REQ:
        _need(p, 37, what)
        m["key_type"] = p[0]
        m["nid"] = bytes(p[14:21])
        m["new_eks"] = p[21]
        m["new_key"] = bytes(p[22:38]) if len(p) >= 38 else bytes(p[22:])
        if len(m["new_key"]) != NMK_LEN:
            raise MmeError("short", "%s: key truncated" % what)
    elif mmtype == CM_SET_KEY | CNF:
        _need(p, 1, what)
        m["result"] = p[0]
    # other SLAC-family messages (CM_VALIDATE, unsolicited kinds) carry no fields we use
    return m


# ---------------------------------------------------------------- builders

def _frame(dst, src, mmtype, payload_parts):
    n = HDR_MMV1
    for part in payload_parts:
        n += len(part)
    buf = bytearray(n if n > ETH_MIN else ETH_MIN)
    buf[0:6] = dst
    buf[6:12] = src
    buf[12] = ETH_P_HPAV >> 8
    buf[13] = ETH_P_HPAV & 0xFF
    buf[14] = MMV_HPAV11
    buf[15] = mmtype & 0xFF
    buf[16] = mmtype >> 8
    i = HDR_MMV1
    for part in payload_parts:
        buf[i:i + len(part)] = part
        i += len(part)
    return bytes(buf)


def _check_len(v, n, what):
    if len(v) != n:
        raise ValueError("%s must be %d bytes" % (what, n))


def slac_parm_req(dst, src, run_id, sec=SEC_NONE):
    _check_len(run_id, RUNID_LEN, "RunID")
    return _frame(dst, src, CM_SLAC_PARM | REQ, (bytes((APP_PEV_EVSE, sec)), run_id))


def slac_parm_cnf(dst, src, run_id, forwarding_sta, num_sounds, time_out_100ms, resp_type=1):
    """[V2G3-A09-xx] / pyPLC composeSlacParamCnf: target broadcast, RESP_TYPE 1
    (other GP station), FORWARDING_STA = the EV's MAC, RunID echoed."""
    _check_len(run_id, RUNID_LEN, "RunID")
    _check_len(forwarding_sta, 6, "FORWARDING_STA")
    return _frame(dst, src, CM_SLAC_PARM | CNF, (
        BROADCAST, bytes((num_sounds, time_out_100ms, resp_type)), forwarding_sta,
        bytes((APP_PEV_EVSE, SEC_NONE)), run_id))


def start_atten_char_ind(dst, src, run_id, forwarding_sta, num_sounds=10, time_out=6, resp_type=1):
    return _frame(dst, src, CM_START_ATTEN_CHAR | IND, (
        bytes((APP_PEV_EVSE, SEC_NONE, num_sounds, time_out, resp_type)), forwarding_sta, run_id))


def mnbc_sound_ind(dst, src, run_id, cnt, sender_id=bytes(STATION_ID_LEN), rnd=bytes(16)):
    return _frame(dst, src, CM_MNBC_SOUND | IND, (
        bytes((APP_PEV_EVSE, SEC_NONE)), sender_id, bytes((cnt,)), run_id, bytes(8), rnd))


def atten_profile_ind(dst, src, pev_mac, aag):
    if not 0 < len(aag) <= MAX_GROUPS:
        raise ValueError("1..58 attenuation groups")
    return _frame(dst, src, CM_ATTEN_PROFILE | IND, (pev_mac, bytes((len(aag), 0)), aag))


def atten_char_ind(dst, src, run_id, num_sounds, aag, source_id=bytes(STATION_ID_LEN), resp_id=bytes(STATION_ID_LEN)):
    """SOURCE_ADDRESS = the EV's MAC (dst); ATTEN_PROFILE = NumGroups + AAG."""
    if not 0 < len(aag) <= MAX_GROUPS:
        raise ValueError("1..58 attenuation groups")
    return _frame(dst, src, CM_ATTEN_CHAR | IND, (
        bytes((APP_PEV_EVSE, SEC_NONE)), dst, run_id, source_id, resp_id,
        bytes((num_sounds, len(aag))), aag))


def atten_char_rsp(dst, src, run_id, result=0):
    return _frame(dst, src, CM_ATTEN_CHAR | RSP, (
        bytes((APP_PEV_EVSE, SEC_NONE)), src, run_id, bytes(STATION_ID_LEN), bytes(STATION_ID_LEN), bytes((result,))))


def slac_match_req(dst, src, run_id, pev_id=bytes(STATION_ID_LEN), evse_id=bytes(STATION_ID_LEN)):
    return _frame(dst, src, CM_SLAC_MATCH | REQ, (
        bytes((APP_PEV_EVSE, SEC_NONE, 0x3E, 0)), pev_id, src, evse_id, dst, run_id, bytes(8)))


def slac_match_cnf(dst, src, run_id, nid, nmk, pev_id=bytes(STATION_ID_LEN), evse_id=bytes(STATION_ID_LEN)):
    _check_len(nid, NID_LEN, "NID")
    _check_len(nmk, NMK_LEN, "NMK")
    return _frame(dst, src, CM_SLAC_MATCH | CNF, (
        bytes((APP_PEV_EVSE, SEC_NONE, 0x56, 0)), pev_id, dst, evse_id, src, run_id, bytes(8),
        nid, b"\x00", nmk))


def set_key_req(dst, src, nid, nmk, my_nonce=b"\xaa\xaa\xaa\xaa"):
    """CM_SET_KEY.REQ to the own modem: KEYTYPE 1 (NMK), PID 4 (HLE protocol),
    NEWEKS 1, as the reference PEV and pyPLC send it."""
    _check_len(nid, NID_LEN, "NID")
    _check_len(nmk, NMK_LEN, "NMK")
    return _frame(dst, src, CM_SET_KEY | REQ, (
        b"\x01", my_nonce, bytes(4), b"\x04\x00\x00\x00\x00", nid, b"\x01", nmk))


def set_key_cnf(dst, src, result=1):
    """As a modem answers. Qualcomm modems report 1 here for success (pyPLC
    evaluateSetKeyCnf; the reference PEV treats 0 as failure)."""
    return _frame(dst, src, CM_SET_KEY | CNF, (bytes((result,)), bytes(4), b"\xaa\xaa\xaa\xaa",
                                               b"\x04\x00\x00\x00\x00", bytes(27)))


def nid_from_nmk(nmk, security_level=0):
    """HomePlug AV NID: the NMK hashed with SHA-256 five times (PBKDF1, no
    salt), the first 52 bits kept, security level in bits 4-5 of octet 6."""
    import hashlib
    _check_len(nmk, NMK_LEN, "NMK")
    h = bytes(nmk)
    for _ in range(5):
        h = hashlib.sha256(h).digest()
    out = bytearray(h[0:NID_LEN])
    out[6] = (out[6] >> 4) | ((security_level & 3) << 4)
    return bytes(out)
