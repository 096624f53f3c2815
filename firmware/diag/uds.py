"""UDS server (ISO 14229-1), sans-IO.

    srv = UdsServer(target, now)
    rsp = srv.handle(request_bytes, now)   # response bytes, or None (suppressed / nothing yet)
    for rsp in srv.poll(now): ...          # responses of long jobs (after 0x78 pending)
    srv.next_timer()

`target` is the box as the server sees it (see `Target` below for the
contract): DTC store, configuration, live values, image slots, the safety
veto, reset and communication hooks. The server owns sessions, security
access, the download state machine and the negative response codes.

NRC order follows ISO 14229-1 Figure 5 (general) / Figure 6 (sub-function):
serviceNotSupported 0x11 -> serviceNotSupportedInActiveSession 0x7F ->
incorrectMessageLength 0x13 (minimum length) -> subFunctionNotSupported 0x12
-> subFunctionNotSupportedInActiveSession 0x7E -> securityAccessDenied 0x33
-> service specific (0x13 exact length, 0x31, 0x24, 0x22 ...).

Safety veto: every service marked STATE in the table (and entering the
programming session) is refused with conditionsNotCorrect (0x22) while
`target.busy()` says a discharge session is active; the supervisor keeps
the power path, nothing here can touch it.
"""
import struct

from micropython import const

from firmware.diag import crypto
from firmware.diag import image as I

# ---- sessions (ISO 14229-1 Table 25)
DEFAULT = const(1)
PROGRAMMING = const(2)
EXTENDED = const(3)
_S_ALL = const(0x0E)          # bit per session number
_S_DEF_EXT = const(0x0A)
_S_PRG = const(0x04)
_S_EXT = const(0x08)
_S_PRG_EXT = const(0x0C)

# ---- negative response codes (ISO 14229-1 Table A.1)
NRC_GR = const(0x10)
NRC_SNS = const(0x11)
NRC_SFNS = const(0x12)
NRC_IMLOIF = const(0x13)
NRC_RTL = const(0x14)
NRC_CNC = const(0x22)
NRC_RSE = const(0x24)
NRC_ROOR = const(0x31)
NRC_SAD = const(0x33)
NRC_IK = const(0x35)
NRC_ENOA = const(0x36)
NRC_RTDNE = const(0x37)
NRC_UDNA = const(0x70)
NRC_TDS = const(0x71)
NRC_GPF = const(0x72)
NRC_WBSC = const(0x73)
NRC_RCRRP = const(0x78)
NRC_SFNSIAS = const(0x7E)
NRC_SNSIAS = const(0x7F)

# ---- timing (ISO 14229-2 s7.2: P2 server 50 ms, P2* 5000 ms, S3 5000 ms)
P2_MS = const(50)
P2_STAR_MS = const(5000)
S3_MS = const(5000)
PENDING_REPEAT_MS = const(2000)   # repeat 0x78 well inside P2*

# ---- security access (level 1: seed 0x01 / key 0x02)
SEED_LEN = const(16)
MAX_ATTEMPTS = const(3)           # invalid keys before the lockout
LOCKOUT_MS = const(10000)         # requiredTimeDelay after the 3rd invalid key
BOOT_DELAY_MS = const(1000)       # no seed in the first second after reset (reset-and-retry brute force)

# ---- routines
RID_ERASE = const(0xFF00)         # eraseMemory (ISO 14229-1 Table F.1)
RID_CHECK = const(0xFF01)         # checkProgrammingDependencies
RID_SELFTEST = const(0x0201)      # box self-test (manufacturer range)

# ---- data identifiers
DID_SESSION = const(0xF186)
DID_SW_VERSION = const(0xF189)
DID_SERIAL = const(0xF18C)
DID_BOARD = const(0xF191)
DID_IMAGE = const(0xF1A0)         # slots / trial / anti-rollback / download progress
DID_LIVE = const(0x0100)
DID_CFG_SOC = const(0x0200)
DID_CFG_POWER = const(0x0201)
DID_CFG_PROFILE = const(0x0202)
DID_CFG_MODE = const(0x0203)
DID_FREEZE = const(0xDF00)        # the freeze frame inside DTC snapshot records
CONFIG_DIDS = {DID_CFG_SOC: ("soc_floor_pct", "B"), DID_CFG_POWER: ("max_power_w", "H"),
               DID_CFG_PROFILE: ("profile", "B"), DID_CFG_MODE: ("mode", "B")}

MAX_MSG = const(4095)


class Target:
    """What the server needs from the box. The app's glue overrides these;
    the defaults describe a box without that feature."""
    serial = "000000000000"
    board = I.BOARD
    version = 0
    device_key = b""
    slots = None                    # firmware.diag.slots.Slots
    dtc = None                      # firmware.safety.dtc.DtcStore
    config = None                   # firmware.safety.config.Config
    supported_dtcs = ()

    def busy(self):
        """True while a discharge session is active (the safety veto)."""
        return False

    def random(self, n):
        raise NotImplementedError

    def set_config(self, key, value):
        return False, "no configuration store"

    def live(self):
        return b""

    def reset(self, kind):
        """Reset after the response has gone out (1 hard, 3 soft)."""

    def comm_control(self, rx_on, tx_on):
        pass

    def dtc_setting(self, on):
        pass

    def self_test(self):
        """Generator of steps (None = not done yet); its last yield is (ok, code)."""
        yield (True, 0)

    def payload_ok(self, slot, header):
        """Application-level check of a verified image's payload."""
        return True


def _neg(sid, nrc):
    return bytes((0x7F, sid, nrc))


class UdsServer:
    def __init__(self, target, now, max_block=MAX_MSG):
        self.t = target
        self.session = DEFAULT
        self.unlocked = False
        self._seed = None
        self._attempts = 0
        self._locked_until = now + BOOT_DELAY_MS
        self._s3 = None
        self._job = None
        self._job_sid = 0
        self._job_pending_at = 0
        self._dl = None             # SlotWriter of the running download
        self._dl_counter = 0
        self._dl_last_ok = -1
        self.max_block = max_block
        self.comm_tx = True
        self.dtc_on = True
        self.reset_pending = 0
        self.check_result = 0
        self.requests = 0
        self.negatives = 0
        # SID -> (handler, sessions, needs security, changes state, has sub-function)
        self._svc = {
            0x10: (self._session_control, _S_ALL, False, False, True),
            0x11: (self._ecu_reset, _S_ALL, False, True, True),
            0x14: (self._clear_dtc, _S_DEF_EXT, False, True, False),
            0x19: (self._read_dtc, _S_ALL, False, False, True),
            0x22: (self._read_did, _S_ALL, False, False, False),
            0x27: (self._security, _S_PRG_EXT, False, False, True),
            0x28: (self._comm_control, _S_PRG_EXT, False, True, True),
            0x2E: (self._write_did, _S_EXT, True, True, False),
            0x31: (self._routine, _S_PRG_EXT, False, True, True),
            0x34: (self._request_download, _S_PRG, True, True, False),
            0x36: (self._transfer_data, _S_PRG, True, True, False),
            0x37: (self._transfer_exit, _S_PRG, True, True, False),
            0x3E: (self._tester_present, _S_ALL, False, False, True),
            0x85: (self._dtc_setting, _S_EXT, False, True, True),
        }

    # ------------------------------------------------------------ entry points
    def handle(self, req, now):
        self.requests += 1
        rsp = self._dispatch(req, now)
        if rsp is not None and rsp[0] == 0x7F:
            self.negatives += 1
        return rsp

    def _dispatch(self, req, now):
        if len(req) == 0:
            return None
        sid = req[0]
        if self.session != DEFAULT:
            self._s3 = now + S3_MS
        if self._job is not None:
            return _neg(sid, NRC_CNC) if sid != 0x3E else None   # one job at a time (busyRepeatRequest would also do)
        svc = self._svc.get(sid)
        if svc is None:
            return _neg(sid, NRC_SNS)
        fn, sessions, secure, state, subfn = svc
        if not sessions & (1 << self.session):
            return _neg(sid, NRC_SNSIAS)
        if len(req) < (2 if subfn else 1) or (not subfn and sid != 0x37 and len(req) < 2):
            return _neg(sid, NRC_IMLOIF)
        if secure and not self.unlocked:
            return _neg(sid, NRC_SAD)
        if state and self.t.busy() and not (sid == 0x31 and len(req) >= 4 and
                                            (req[2] << 8 | req[3]) == RID_SELFTEST and req[1] & 0x7F == 3):
            return _neg(sid, NRC_CNC)
        suppress = subfn and sid not in (0x19,) and req[1] & 0x80
        try:
            rsp = fn(req, now)
        except Exception:
            # a defect or a flash error: refuse the request, keep serving
            self._job = None
            return _neg(sid, NRC_GPF if sid in (0x31, 0x34, 0x36, 0x37) else NRC_GR)
        if suppress and rsp is not None and rsp[0] != 0x7F and self._job is None:
            return None
        return rsp

    def poll(self, now):
        """Advance a long job one step; returns a list of responses to send."""
        out = []
        if self._s3 is not None and now >= self._s3 and self._job is None:
            self._enter_session(DEFAULT)
        job = self._job
        if job is None:
            return out
        try:
            r = next(job)
        except StopIteration:
            r = _neg(self._job_sid, NRC_GPF)
        except Exception:
            r = _neg(self._job_sid, NRC_GPF)
        if r is None:
            if now >= self._job_pending_at:
                self._job_pending_at = now + PENDING_REPEAT_MS
                out.append(_neg(self._job_sid, NRC_RCRRP))
            return out
        self._job = None
        out.append(r)
        return out

    def next_timer(self):
        if self._job is not None:
            return 0
        return self._s3

    def _start_job(self, sid, gen, now):
        self._job = gen
        self._job_sid = sid
        self._job_pending_at = now + PENDING_REPEAT_MS
        return _neg(sid, NRC_RCRRP)

    # ------------------------------------------------------------ 0x10
    def _enter_session(self, s):
        if s != self.session or s == DEFAULT:
            self.unlocked = False
            self._seed = None
        if s == DEFAULT:
            self._s3 = None
            if not self.comm_tx:
                self.comm_tx = True
                self.t.comm_control(True, True)
            if not self.dtc_on:
                self.dtc_on = True
                self.t.dtc_setting(True)
        self.session = s

    def _session_control(self, req, now):
        if len(req) != 2:
            return _neg(0x10, NRC_IMLOIF)
        s = req[1] & 0x7F
        if s not in (DEFAULT, PROGRAMMING, EXTENDED):
            return _neg(0x10, NRC_SFNS)
        if s == PROGRAMMING:
            if self.session == DEFAULT:
                return _neg(0x10, NRC_SFNSIAS)    # via the extended session (ISO 14229-1 s9.2)
            if self.t.busy():
                return _neg(0x10, NRC_CNC)
        self._enter_session(s)
        if s != DEFAULT:
            self._s3 = now + S3_MS
        return bytes((0x50, s)) + struct.pack(">HH", P2_MS, P2_STAR_MS // 10)

    # ------------------------------------------------------------ 0x11
    def _ecu_reset(self, req, now):
        if len(req) != 2:
            return _neg(0x11, NRC_IMLOIF)
        kind = req[1] & 0x7F
        if kind not in (1, 3):
            return _neg(0x11, NRC_SFNS)
        if self._dl is not None:
            self._dl = None
        self.reset_pending = kind
        self.t.reset(kind)
        return bytes((0x51, kind))

    # ------------------------------------------------------------ 0x14
    def _clear_dtc(self, req, now):
        if len(req) != 4:
            return _neg(0x14, NRC_IMLOIF)
        group = req[1] << 16 | req[2] << 8 | req[3]
        if group != 0xFFFFFF or self.t.dtc is None:
            return _neg(0x14, NRC_ROOR)
        try:
            self.t.dtc.clear()
        except OSError:                  # flash refused (issue 8: never into the main loop)
            return _neg(0x14, NRC_GPF)
        return b"\x54"

    # ------------------------------------------------------------ 0x19
    def _dtc_bytes(self, dtc, status):
        return bytes(((dtc >> 16) & 0xFF, (dtc >> 8) & 0xFF, dtc & 0xFF, status))

    def _read_dtc(self, req, now):
        sub = req[1]
        store = self.t.dtc
        if sub in (0x01, 0x02):
            if len(req) != 3:
                return _neg(0x19, NRC_IMLOIF)
            found = store.by_status_mask(req[2]) if store is not None else []
            if sub == 0x01:
                return bytes((0x59, 0x01, 0xFF, 0x01)) + struct.pack(">H", len(found))
            out = bytearray(b"\x59\x02\xff")
            for dtc, st in found:
                out += self._dtc_bytes(dtc, st)
            return self._fit(0x19, out)
        if sub == 0x03:
            if len(req) != 2:
                return _neg(0x19, NRC_IMLOIF)
            out = bytearray(b"\x59\x03")
            if store is not None:
                for dtc, st in store.by_status_mask(0xFF):
                    if store.freeze_frame(dtc) is not None:
                        out += bytes(((dtc >> 16) & 0xFF, (dtc >> 8) & 0xFF, dtc & 0xFF, 0x01))
            return self._fit(0x19, out)
        if sub in (0x04, 0x06):
            if len(req) != 6:
                return _neg(0x19, NRC_IMLOIF)
            dtc = req[2] << 16 | req[3] << 8 | req[4]
            rec = req[5]
            if dtc not in self.t.supported_dtcs:
                return _neg(0x19, NRC_ROOR)
            st = store.status(dtc) if store is not None else 0x50
            out = bytearray(b"\x59") + bytes((sub,)) + self._dtc_bytes(dtc, st)
            if sub == 0x04:
                if rec not in (0x01, 0xFF):
                    return _neg(0x19, NRC_ROOR)
                ff = store.freeze_frame(dtc) if store is not None else None
                if ff is not None and store is not None and store.occurrences(dtc):
                    out += bytes((0x01, 0x01)) + struct.pack(">H", DID_FREEZE) + freeze_bytes(ff)
                return bytes(out)
            if rec not in (0x01, 0x02, 0xFF):
                return _neg(0x19, NRC_ROOR)
            occ = store.occurrences(dtc) if store is not None else 0
            aging = store.entries[dtc][2] if store is not None and dtc in store.entries else 0
            if rec in (0x01, 0xFF):
                out += bytes((0x01, occ & 0xFF))
            if rec in (0x02, 0xFF):
                out += bytes((0x02, aging & 0xFF))
            return bytes(out)
        if sub == 0x0A:
            if len(req) != 2:
                return _neg(0x19, NRC_IMLOIF)
            out = bytearray(b"\x59\x0a\xff")
            for dtc in self.t.supported_dtcs:
                out += self._dtc_bytes(dtc, store.status(dtc) if store is not None else 0x50)
            return self._fit(0x19, out)
        return _neg(0x19, NRC_SFNS)

    def _fit(self, sid, out):
        if len(out) > self.max_block:
            return _neg(sid, NRC_RTL)
        return bytes(out)

    # ------------------------------------------------------------ 0x22 / 0x2E
    def did_value(self, did):
        t = self.t
        if did == DID_SESSION:
            return bytes((self.session,))
        if did == DID_SW_VERSION:
            return I.version_str(t.version).encode()
        if did == DID_SERIAL:
            return t.serial.encode()
        if did == DID_BOARD:
            return t.board.encode()
        if did == DID_IMAGE:
            s = t.slots
            if s is None:
                return None
            st = s.state
            rcv = self._dl.received if self._dl is not None else 0
            return struct.pack(">BBBBBIII", s.running, st.confirmed, st.trial, st.trial_boots,
                               st.last_result, st.counter, t.version, rcv)
        if did == DID_LIVE:
            return t.live()
        if did in CONFIG_DIDS:
            c = t.config
            if c is None:
                return None
            key, fmt = CONFIG_DIDS[did]
            return struct.pack(">" + fmt, getattr(c, key))
        return None

    def _read_did(self, req, now):
        if len(req) < 3 or len(req) % 2 != 1:
            return _neg(0x22, NRC_IMLOIF)
        out = bytearray(b"\x62")
        for i in range(1, len(req), 2):
            did = req[i] << 8 | req[i + 1]
            v = self.did_value(did)
            if v is None:
                return _neg(0x22, NRC_ROOR)
            out += bytes((req[i], req[i + 1])) + v
        return self._fit(0x22, out)

    def _write_did(self, req, now):
        if len(req) < 4:
            return _neg(0x2E, NRC_IMLOIF)
        did = req[1] << 8 | req[2]
        spec = CONFIG_DIDS.get(did)
        if spec is None or self.t.config is None:
            return _neg(0x2E, NRC_ROOR)
        key, fmt = spec
        if len(req) != 3 + struct.calcsize(fmt):
            return _neg(0x2E, NRC_IMLOIF)
        value = struct.unpack(">" + fmt, req[3:])[0]
        ok, why = self.t.set_config(key, value)
        if not ok:
            self.last_refusal = why
            return _neg(0x2E, NRC_ROOR)
        return bytes((0x6E, req[1], req[2]))

    # ------------------------------------------------------------ 0x27
    def _security(self, req, now):
        sub = req[1] & 0x7F
        if sub == 0x01:
            if len(req) != 2:
                return _neg(0x27, NRC_IMLOIF)
            if now < self._locked_until:
                return _neg(0x27, NRC_RTDNE)
            if self.unlocked:
                return b"\x67\x01" + bytes(SEED_LEN)     # already unlocked: zero seed
            self._seed = bytes(self.t.random(SEED_LEN))
            return b"\x67\x01" + self._seed
        if sub == 0x02:
            if len(req) < 3:
                return _neg(0x27, NRC_IMLOIF)
            if self._seed is None:
                return _neg(0x27, NRC_RSE)
            want = crypto.hmac_sha256(self.t.device_key, self._seed)
            self._seed = None             # one key attempt per seed
            if not crypto.equal(bytes(req[2:]), want):
                self._attempts += 1
                if self._attempts >= MAX_ATTEMPTS:
                    self._attempts = 0
                    self._locked_until = now + LOCKOUT_MS
                    return _neg(0x27, NRC_ENOA)
                return _neg(0x27, NRC_IK)
            self._attempts = 0
            self.unlocked = True
            return b"\x67\x02"
        return _neg(0x27, NRC_SFNS)

    # ------------------------------------------------------------ 0x28 / 0x85
    def _comm_control(self, req, now):
        sub = req[1] & 0x7F
        if sub > 3:
            return _neg(0x28, NRC_SFNS)
        if len(req) != 3:
            return _neg(0x28, NRC_IMLOIF)
        if req[2] & 0x0F not in (1, 2, 3) or req[2] >> 4:
            return _neg(0x28, NRC_ROOR)
        rx_on = sub in (0, 1)
        tx_on = sub in (0, 2)
        self.comm_tx = tx_on
        self.t.comm_control(rx_on, tx_on)
        return bytes((0x68, sub))

    def _dtc_setting(self, req, now):
        sub = req[1] & 0x7F
        if sub not in (1, 2):
            return _neg(0x85, NRC_SFNS)
        if len(req) not in (2, 5):
            return _neg(0x85, NRC_IMLOIF)
        self.dtc_on = sub == 1
        self.t.dtc_setting(self.dtc_on)
        return bytes((0xC5, sub))

    # ------------------------------------------------------------ 0x3E
    def _tester_present(self, req, now):
        if len(req) != 2:
            return _neg(0x3E, NRC_IMLOIF)
        if req[1] & 0x7F != 0:
            return _neg(0x3E, NRC_SFNS)
        return b"\x7e\x00"

    # ------------------------------------------------------------ 0x31
    def _routine(self, req, now):
        sub = req[1] & 0x7F
        if sub not in (1, 2, 3):
            return _neg(0x31, NRC_SFNS)
        if len(req) < 4:
            return _neg(0x31, NRC_IMLOIF)
        rid = req[2] << 8 | req[3]
        if rid == RID_SELFTEST:
            if sub == 2:
                return _neg(0x31, NRC_SFNS)
            if sub == 3:
                return bytes((0x71, 3, req[2], req[3], self._selftest_result))
            if len(req) != 4:
                return _neg(0x31, NRC_IMLOIF)
            return self._start_job(0x31, self._selftest_job(), now)
        if rid not in (RID_ERASE, RID_CHECK):
            return _neg(0x31, NRC_ROOR)
        if self.session != PROGRAMMING:
            return _neg(0x31, NRC_ROOR)
        if not self.unlocked:
            return _neg(0x31, NRC_SAD)
        if sub != 1:
            return _neg(0x31, NRC_SFNS)
        s = self.t.slots
        if s is None:
            return _neg(0x31, NRC_CNC)
        if rid == RID_ERASE:
            # eraseMemory record (ISO 14229-1 Annex): ignored -- the only erasable memory is the inactive slot
            if s.state.trial != NONE_SLOT:
                return _neg(0x31, NRC_CNC)    # a trial image waits for its boot/confirmation
            slot = s.target_slot()
            if slot == NONE_SLOT:
                return _neg(0x31, NRC_CNC)
            self._dl = None
            return self._start_job(0x31, self._erase_job(slot), now)
        if self._erased_slot is None or self._dl_done is None:
            return _neg(0x31, NRC_RSE)
        return self._start_job(0x31, self._check_job(self._erased_slot), now)

    _selftest_result = 0xFF
    _erased_slot = None
    _dl_done = None

    def _selftest_job(self):
        r = None
        for x in self.t.self_test():
            if x is None:
                yield None
            else:
                r = x
        ok, code = r if r is not None else (False, 0xFE)
        self._selftest_result = 0 if ok else (code or 1)
        yield bytes((0x71, 0x01, RID_SELFTEST >> 8, RID_SELFTEST & 0xFF, self._selftest_result))

    def _erase_job(self, slot):
        s = self.t.slots
        self._erased_slot = None
        self._dl_done = None
        first = s.slot_first_sector(slot)
        for k in range(s.slot_sectors):
            s.erase_sector(first + k)
            yield None
        self._erased_slot = slot
        yield bytes((0x71, 0x01, RID_ERASE >> 8, RID_ERASE & 0xFF, 0x00))

    def _check_job(self, slot):
        s = self.t.slots
        res, h = s.check_header(slot)
        if h is not None and res == I.OK:
            if self._dl_done != h.total():
                res = I.E_INCOMPLETE
            if res == I.OK:
                sha = None
                for sha in s.hash_steps(slot, h):
                    yield None
                if sha is None or sha.digest() != h.sha256:
                    res = I.E_HASH
            if res == I.OK:
                yield None
                if not s.check_signature(slot, h):
                    res = I.E_SIGNATURE
            if res == I.OK and h.counter < s.state.counter:
                res = I.E_DOWNGRADE
            if res == I.OK and not self.t.payload_ok(slot, h):
                res = I.E_PAYLOAD
        elif res == I.OK:
            res = I.E_MAGIC
        s.mark_trial(slot, res)
        self.check_result = res
        if res == I.OK:
            self._erased_slot = None      # the slot now holds a trial image
        yield bytes((0x71, 0x01, RID_CHECK >> 8, RID_CHECK & 0xFF, res))

    # ------------------------------------------------------------ 0x34 / 0x36 / 0x37
    def _request_download(self, req, now):
        if len(req) < 3:
            return _neg(0x34, NRC_IMLOIF)
        dfi = req[1]
        alfid = req[2]
        na = alfid & 0x0F
        nl = alfid >> 4
        if not 1 <= na <= 4 or not 1 <= nl <= 4:
            return _neg(0x34, NRC_ROOR)
        if len(req) != 3 + na + nl:
            return _neg(0x34, NRC_IMLOIF)
        if dfi != 0:
            return _neg(0x34, NRC_ROOR)        # no compression / encryption
        addr = 0
        for b in req[3:3 + na]:
            addr = addr << 8 | b
        size = 0
        for b in req[3 + na:]:
            size = size << 8 | b
        s = self.t.slots
        if s is None:
            return _neg(0x34, NRC_UDNA)
        if size == 0 or size > s.capacity() or addr > size:
            return _neg(0x34, NRC_ROOR)
        if addr == 0:
            if self._erased_slot is None or self._dl_done is not None or (
                    self._dl is not None and self._dl.received):
                return _neg(0x34, NRC_CNC)    # erase first (0x31 01 FF00)
            from firmware.diag.slots import SlotWriter
            self._dl = SlotWriter(s, self._erased_slot, size)
        else:
            # resume after an interrupted transfer: exactly where the box stopped
            d = self._dl
            if d is None or d.length != size or d.received != addr:
                return _neg(0x34, NRC_ROOR)
        self._dl_counter = 1
        self._dl_last_ok = -1
        self._dl_active = True
        return b"\x74\x20" + struct.pack(">H", self.max_block)

    _dl_active = False

    def _transfer_data(self, req, now):
        d = self._dl
        if d is None or not self._dl_active:
            return _neg(0x36, NRC_RSE)
        if len(req) < 2 or len(req) > self.max_block:
            return _neg(0x36, NRC_IMLOIF)
        bsc = req[1]
        if bsc == self._dl_last_ok:
            return bytes((0x76, bsc))         # repeated block: already written
        if bsc != self._dl_counter:
            return _neg(0x36, NRC_WBSC)
        if d.received + len(req) - 2 > d.length:
            return _neg(0x36, NRC_TDS)
        d.write(req[2:])
        self._dl_last_ok = bsc
        self._dl_counter = (bsc + 1) & 0xFF
        return bytes((0x76, bsc))

    def _transfer_exit(self, req, now):
        d = self._dl
        if d is None or not self._dl_active:
            return _neg(0x37, NRC_RSE)
        if len(req) != 1:
            return _neg(0x37, NRC_IMLOIF)
        if d.received != d.length:
            return _neg(0x37, NRC_RSE)
        d.finish()
        self._dl_active = False
        self._dl_done = d.length
        return b"\x77"


NONE_SLOT = const(0xFF)


def freeze_bytes(ff):
    """Freeze frame (DtcStore.freeze_frame tuple) as DID 0xDF00: ts u32 ms,
    state u8, v_inlet u16 0.1 V, v_link u16 0.1 V, i_dc i16 0.1 A, temp i8 degC,
    soc u8 (0xFF unknown), fault mask u32 -- FREEZE_SIZE (17) bytes, big-endian."""
    ts, state, vin, vlink, i, t, soc, faults = ff
    return struct.pack(">IBHHhbBI", ts & 0xFFFFFFFF, state & 0xFF, int(vin * 10 + 0.5), int(vlink * 10 + 0.5),
                       int(i * 10 + (0.5 if i >= 0 else -0.5)), t, 0xFF if soc < 0 else soc, faults)


FREEZE_SIZE = const(17)
