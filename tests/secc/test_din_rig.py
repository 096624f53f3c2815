"""Full DIN DC discharge sessions: firmware SECC + simulated port + scripted EVCC."""
from hil.ccs import din_rig


def test_default_car_completes_a_full_session():
    rec, ev, port, secc = din_rig.run()
    assert ev.result == "completed", ev.log
    names = [n for n, _c in rec["requests"]]
    assert names == ["SessionSetupReq", "ServiceDiscoveryReq", "ServicePaymentSelectionReq",
                     "ContractAuthenticationReq", "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq",
                     "PowerDeliveryReq", "CurrentDemandReq", "PowerDeliveryReq", "WeldingDetectionReq",
                     "SessionStopReq"], rec
    assert rec["current_demand_loops"] == 12
    assert rec["energy_wh"] > 0
    print(rec)
