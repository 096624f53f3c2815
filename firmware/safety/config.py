"""User configuration: SoC floor, maximum power, output profile and mode.

Every change is validated; a bad value is refused with a clear reason and
the previous value is kept (in RAM and on flash). Accepted values are
persisted as a whole-config record in a flash journal (2+ sectors), so a
power cut during a save leaves either the old or the new configuration.
"""
import struct

from micropython import const

from firmware.safety import limits as L
from firmware.safety.journal import Journal

PROFILE_120_60 = const(0)
PROFILE_230_50 = const(1)
PROFILE_120_240_SPLIT = const(2)
PROFILE_NAMES = ("120V/60Hz", "230V/50Hz", "120/240V split phase")
# Continuous power per profile (team, calc): 120 V x 30 A; 230 V x 31 A;
# 240 V x 30 A (the Ford/Cybertruck 240 V outlets, inverter-and-v2l-targets.md §1, §7).
PROFILE_MAX_W = (3600, 7200, 7200)

MODE_NAMES = ("V2L", "V2V", "V2H")   # same order as supervisor.MODE_*

SOC_FLOOR_MIN = const(10)   # (team) below 10 % a 12 V / traction battery may not restart the car
SOC_FLOOR_MAX = const(90)
POWER_MIN_W = const(500)    # (team) below this the inverter's own losses dominate

KEYS = ("soc_floor_pct", "max_power_w", "profile", "mode")
# keys that change the AC output's wiring and must not move while supplying
_OUTPUT_KEYS = ("profile", "mode")

_T_CONFIG = const(1)
_VERSION = const(1)
_FMT = "<BBHBB"


def _is_int(v):
    return type(v) is int   # bool is not an int here (and not on MicroPython)


def _index(value, names, key):
    """(index, "") or (-1, reason)."""
    if _is_int(value):
        if 0 <= value < len(names):
            return value, ""
        return -1, "%s %d is not one of %s" % (key, value, ", ".join(names))
    if isinstance(value, str):
        for i in range(len(names)):
            if names[i].lower() == value.lower():
                return i, ""
        return -1, "%s '%s' is not one of %s" % (key, value, ", ".join(names))
    return -1, "%s must be one of %s" % (key, ", ".join(names))


class Config:
    def __init__(self, flash=None, first_sector=0, n_sectors=2):
        self.soc_floor_pct = L.SOC_FLOOR_DEFAULT_PCT
        self.profile = PROFILE_230_50
        self.max_power_w = PROFILE_MAX_W[PROFILE_230_50]
        self.mode = 0
        self.j = Journal(flash, first_sector, n_sectors) if flash is not None else None
        self.loaded = False
        self.store_error = False     # the last save failed (SafetyApp latches F_STORAGE)

    # ------------------------------------------------------------ persistence
    def load(self):
        """Mount the journal; the newest valid record wins, else defaults."""
        if self.j is None:
            return False
        self.j.mount(self._replay)
        return self.loaded

    def _replay(self, typ, seq, payload, after):
        if typ != _T_CONFIG or len(payload) != struct.calcsize(_FMT):
            return
        ver, soc, pw, prof, mode = struct.unpack(_FMT, payload)
        # a record that would not pass validation today is ignored
        if ver == _VERSION and self._check(soc, pw, prof, mode) is None:
            self.soc_floor_pct, self.max_power_w, self.profile, self.mode = soc, pw, prof, mode
            self.loaded = True

    def _record(self):
        return struct.pack(_FMT, _VERSION, self.soc_floor_pct, self.max_power_w, self.profile, self.mode)

    def _snapshot(self):
        return [(_T_CONFIG, self._record())]

    # ------------------------------------------------------------ validation
    @staticmethod
    def _check(soc, pw, prof, mode):
        if not SOC_FLOOR_MIN <= soc <= SOC_FLOOR_MAX:
            return "soc_floor_pct %d is outside %d..%d %%" % (soc, SOC_FLOOR_MIN, SOC_FLOOR_MAX)
        if not 0 <= prof < len(PROFILE_NAMES):
            return "profile %d unknown" % prof
        if not 0 <= mode < len(MODE_NAMES):
            return "mode %d unknown" % mode
        lim = PROFILE_MAX_W[prof]
        if lim > L.BOX_MAX_POWER_W:
            lim = L.BOX_MAX_POWER_W
        if not POWER_MIN_W <= pw <= lim:
            return "max_power_w %d is outside %d..%d W for the %s profile" % (
                pw, POWER_MIN_W, lim, PROFILE_NAMES[prof])
        return None

    def set(self, key, value, busy=False):
        """Change one setting. Returns (True, "") or (False, reason); on
        refusal nothing changes. `busy`: a session is supplying."""
        soc, pw, prof, mode = self.soc_floor_pct, self.max_power_w, self.profile, self.mode
        if key == "soc_floor_pct":
            if not _is_int(value):
                return False, "soc_floor_pct must be a whole number of percent"
            soc = value
        elif key == "max_power_w":
            if not _is_int(value):
                return False, "max_power_w must be a whole number of watts"
            pw = value
        elif key == "profile":
            prof, why = _index(value, PROFILE_NAMES, "profile")
            if why:
                return False, why
        elif key == "mode":
            mode, why = _index(value, MODE_NAMES, "mode")
            if why:
                return False, why
        else:
            return False, "unknown setting '%s' (settings: %s)" % (key, ", ".join(KEYS))
        if busy and key in _OUTPUT_KEYS and (prof != self.profile or mode != self.mode):
            return False, "%s cannot change while the output is in use; stop the session first" % key
        why = self._check(soc, pw, prof, mode)
        if why:
            return False, why
        old = (self.soc_floor_pct, self.max_power_w, self.profile, self.mode)
        self.soc_floor_pct, self.max_power_w, self.profile, self.mode = soc, pw, prof, mode
        if self.j is not None:
            try:
                # returns only once the record is verified on flash: durable
                self.j.append(_T_CONFIG, self._record(), self._snapshot)
            except OSError as e:
                # not saved (StorageError or a flash error): RAM keeps what is on flash
                self.soc_floor_pct, self.max_power_w, self.profile, self.mode = old
                self.store_error = True
                return False, "not saved: flash error (%s); the previous value is kept" % e
        self.store_error = False
        return True, ""

    def as_dict(self):
        return {"soc_floor_pct": self.soc_floor_pct, "max_power_w": self.max_power_w,
                "profile": PROFILE_NAMES[self.profile], "mode": MODE_NAMES[self.mode]}
