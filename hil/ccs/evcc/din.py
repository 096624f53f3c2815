"""DIN SPEC 70121 DC message building for the scripted EVCC (hil/ccs/evcc/car.py has the
behaviour). Message names and shapes per DIN SPEC 70121 as the team's EXI codec
(firmware/v2g/exi, schema "din") encodes them; EV message timeouts from DIN Table 75/77
as in the reference sheet §6: 2 s, CurrentDemand 250 ms."""
from firmware.protocols.ccs import sap
from hil.ccs.evcc.car import pv

MSG_TIMEOUT_MS = 2000
CD_TIMEOUT_MS = 250


class DIN:
    protocol = "din"
    schema = "din"
    needs_schedule = False      # DIN's PowerDeliveryReq has no SAScheduleTupleID
    namespace = sap.PROTOCOLS["din"][0]
    NAMES = {"PaymentSelection": "ServicePaymentSelection", "Authorization": "ContractAuthentication",
             "PowerDeliveryStart": "PowerDelivery", "PowerDeliveryStop": "PowerDelivery"}

    @staticmethod
    def phase_name(step):
        if step.startswith("PowerDelivery"):
            return step         # the car's two PowerDelivery phases stay apart in logs
        return DIN.NAMES.get(step, step)

    @staticmethod
    def timeout_ms(name):
        return CD_TIMEOUT_MS if name == "CurrentDemand" else MSG_TIMEOUT_MS

    @staticmethod
    def charge_service_id(res):
        return res["ChargeService"]["ServiceTag"]["ServiceID"]

    @staticmethod
    def schedule_id(res):
        return None             # DIN's PowerDeliveryReq carries no SAScheduleTupleID

    @staticmethod
    def request(step, ev):
        """(message name without Req, body) of the car's request in `step`."""
        c = ev.car
        st = ev.ev_status()
        if step == "SessionSetup":
            return "SessionSetup", {"EVCCID": c["evccid"]}
        if step == "ServiceDiscovery":
            return "ServiceDiscovery", {}
        if step == "PaymentSelection":
            return "ServicePaymentSelection", {"SelectedPaymentOption": "ExternalPayment", "SelectedServiceList": {
                "SelectedService": [{"ServiceID": ev.service_id}]}}
        if step == "Authorization":
            return "ContractAuthentication", {}
        if step == "ChargeParameterDiscovery":
            return "ChargeParameterDiscovery", {"EVRequestedEnergyTransferType": c["energy_transfer"],
                                                "DC_EVChargeParameter": ev_charge_parameter(c, st)}
        if step in ("CableCheck", "WeldingDetection"):
            return step, {"DC_EVStatus": st}
        if step == "PreCharge":
            return "PreCharge", precharge_body(c, st)
        if step == "PowerDeliveryStart":
            return "PowerDelivery", {"ReadyToChargeState": True, "DC_EVPowerDeliveryParameter": {
                "DC_EVStatus": st, "ChargingComplete": False}}
        if step == "PowerDeliveryStop":
            return "PowerDelivery", {"ReadyToChargeState": False, "DC_EVPowerDeliveryParameter": {
                "DC_EVStatus": st, "ChargingComplete": True}}
        if step == "CurrentDemand":
            return "CurrentDemand", current_demand_body(c, st)
        if step == "SessionStop":
            return "SessionStop", {}
        raise ValueError("no DIN request for step %r" % (step,))


# bodies DIN and ISO-2 share (same element names and order in both schemas)
def ev_charge_parameter(c, st):
    return {"DC_EVStatus": st, "EVMaximumCurrentLimit": pv(c["max_a"], "A"),
            "EVMaximumPowerLimit": pv(c["max_w"], "W", 1), "EVMaximumVoltageLimit": pv(c["max_v"], "V")}


def precharge_body(c, st):
    return {"DC_EVStatus": st, "EVTargetVoltage": pv(c["battery_v"], "V"), "EVTargetCurrent": pv(1, "A")}


def current_demand_body(c, st):
    return {"DC_EVStatus": st, "EVTargetCurrent": pv(c["target_a"], "A"),
            "EVMaximumVoltageLimit": pv(c["max_v"], "V"), "EVMaximumCurrentLimit": pv(c["max_a"], "A"),
            "EVMaximumPowerLimit": pv(c["max_w"], "W", 1), "ChargingComplete": False,
            "EVTargetVoltage": pv(c["battery_v"], "V")}
