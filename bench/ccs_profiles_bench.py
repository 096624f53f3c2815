"""Every car profile x every protocol its car offers (DIN, ISO 15118-2) discharged on the
CCS rig (hil/rigs/ccs_profiles.py: real firmware + supervisor + averaged plant, scripted
EVCC) at the cars' REAL loop limits (BMW iX / Mercedes EQC 5 min, Taycan 30 s, VW MEB 60 s,
Ioniq 10 min; the tests cap them at 60 s), simulated time:

  secc.rig_profile_sessions_passing        runs that discharged for the car's whole loop and
                                           ended in order (criteria in hil/rigs/ccs_profiles.py)
  secc.rig_profile_sessions_total          all (profile, protocol) runs
  secc.rig_profile_sessions_iso2_passing   of which over ISO 15118-2 (cars that offer it)
  secc.rig_profile_sessions_iso2_total
  secc.rig_profile_simulated_s             simulated time of all runs
  secc.rig_profile_sim_speed_x             simulated seconds per wall second (this machine,
                                           this run; the rig steps 1 ms)
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def collect():
    from hil.rigs import ccs_profiles
    rows = ccs_profiles.run_all(log=lambda s: print("bench: " + s))
    sim = sum(r[4] for r in rows)
    wall = sum(r[5] for r in rows)
    iso2 = [r for r in rows if r[1] == "iso2"]
    return {
        "secc.rig_profile_sessions_passing": {"value": sum(1 for r in rows if r[2]), "unit": "sessions"},
        "secc.rig_profile_sessions_total": {"value": len(rows), "unit": "sessions"},
        "secc.rig_profile_sessions_iso2_passing": {"value": sum(1 for r in iso2 if r[2]), "unit": "sessions"},
        "secc.rig_profile_sessions_iso2_total": {"value": len(iso2), "unit": "sessions"},
        "secc.rig_profile_simulated_s": {"value": round(sim, 1), "unit": "s"},
        "secc.rig_profile_sim_speed_x": {"value": round(sim / wall, 1) if wall > 0 else 0.0, "unit": "x"},
    }


if __name__ == "__main__":
    print(collect())
