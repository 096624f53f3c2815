"""ISO 15118-2 DC message building for the scripted EVCC (hil/ccs/evcc/car.py has the
behaviour), EIM with ExternalPayment, no TLS. What differs from DIN SPEC 70121 (reference
sheet §7; ISO 15118-2:2014 message set as the team's EXI codec, schema "iso2", encodes it):

  PaymentServiceSelection / Authorization  instead of ServicePaymentSelection / ContractAuthentication
  ServiceDiscoveryRes                      ChargeService.ServiceID (no ServiceTag)
  ChargeParameterDiscoveryReq              RequestedEnergyTransferMode
  PowerDeliveryReq                         ChargeProgress Start / Stop and the SAScheduleTupleID
                                           the SECC offered in ChargeParameterDiscoveryRes
  SessionStopReq                           ChargingSession Terminate

EV message timeouts (sheet §7, Josev iso15118_2/timeouts.py): 2 s, PowerDelivery 5 s,
CurrentDemand 250 ms. The bodies DIN and ISO-2 share come from din.py.
"""
from firmware.protocols.ccs import sap
from hil.ccs.evcc import din

MSG_TIMEOUT_MS = 2000
PD_TIMEOUT_MS = 5000
CD_TIMEOUT_MS = 250


class ISO2:
    protocol = "iso2"
    schema = "iso2"
    needs_schedule = True      # PowerDeliveryReq carries the SAScheduleTupleID the SECC offered
    namespace = sap.PROTOCOLS["iso2"][0]
    NAMES = {"PaymentSelection": "PaymentServiceSelection"}

    @staticmethod
    def phase_name(step):
        return ISO2.NAMES.get(step, step)

    @staticmethod
    def timeout_ms(name):
        if name == "CurrentDemand":
            return CD_TIMEOUT_MS
        return PD_TIMEOUT_MS if name == "PowerDelivery" else MSG_TIMEOUT_MS

    @staticmethod
    def charge_service_id(res):
        return res["ChargeService"]["ServiceID"]

    @staticmethod
    def schedule_id(res):
        """The first SAScheduleTupleID offered; a car gets none only from a broken SECC."""
        tuples = (res.get("SAScheduleList") or {}).get("SAScheduleTuple") or []
        if not isinstance(tuples, list):
            tuples = [tuples]
        return tuples[0]["SAScheduleTupleID"] if tuples else None

    @staticmethod
    def request(step, ev):
        c = ev.car
        st = ev.ev_status()
        if step == "PaymentSelection":
            return "PaymentServiceSelection", {"SelectedPaymentOption": "ExternalPayment", "SelectedServiceList": {
                "SelectedService": [{"ServiceID": ev.service_id}]}}
        if step == "Authorization":
            return "Authorization", {}
        if step == "ChargeParameterDiscovery":
            return "ChargeParameterDiscovery", {"RequestedEnergyTransferMode": c["energy_transfer"],
                                                "DC_EVChargeParameter": din.ev_charge_parameter(c, st)}
        if step in ("PowerDeliveryStart", "PowerDeliveryStop"):
            start = step == "PowerDeliveryStart"
            return "PowerDelivery", {"ChargeProgress": "Start" if start else "Stop",
                                     "SAScheduleTupleID": ev.schedule_id,
                                     "DC_EVPowerDeliveryParameter": {"DC_EVStatus": st, "ChargingComplete": not start}}
        if step == "SessionStop":
            return "SessionStop", {"ChargingSession": "Terminate"}
        # SessionSetup, ServiceDiscovery, CableCheck, PreCharge, CurrentDemand, WeldingDetection:
        # same names and bodies as DIN
        return din.DIN.request(step, ev)
