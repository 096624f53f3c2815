"""ISO 15118-2 DC (EIM, no TLS), SECC side, in the spec's message order. Sans-IO, MicroPython-compatible.

Same discharge logic as DIN SPEC 70121 (din/dc.py: present voltage from measurement,
reported-current strategy, isolation status, SoC floor, EVSEMaximum*Limit always present,
physical precharge, welding detection with the link bled); what differs is the message
set and shapes of ISO 15118-2:2014 (renamed ServicePaymentSelection ->
PaymentServiceSelection, ContractAuthentication -> Authorization; PowerDelivery with
ChargeProgress Start/Stop; PhysicalValue PMax; EVSEID and SAScheduleTupleID in
CurrentDemandRes; SessionStop with ChargingSession Terminate/Pause).

Table STATES below; a request outside it gets FAILED_SequenceError ([V2G2-538] as cited by
EVerest EvseV2G iso_server.cpp), a foreign SessionID FAILED_UnknownSession, and after any
FAILED response the session ends. SessionStopReq is accepted from ChargeParameterDiscovery
on (EvseV2G's allowed-request masks after ChargeParameterDiscoveryRes/CableCheckRes).
"""
from firmware.protocols.ccs.din import dc as din

# states: the DIN module's numbering, ISO-2 request names
STATES = (
    ("SessionSetupReq",),
    ("ServiceDiscoveryReq",),
    ("PaymentServiceSelectionReq",),
    ("AuthorizationReq",),
    ("ChargeParameterDiscoveryReq", "SessionStopReq"),
    ("CableCheckReq", "SessionStopReq"),
    ("PreChargeReq", "PowerDeliveryReq", "SessionStopReq"),
    ("CurrentDemandReq", "PowerDeliveryReq"),
    ("WeldingDetectionReq", "SessionStopReq"),
    (),
)

ENERGY_TYPES = ("DC_core", "DC_extended")
DEFAULT_EVSE_ID = "ZZ00000"       # EVSEID is a string in ISO-2 (7..37 characters)


def _schedule(pmax_w):
    return {"SAScheduleTuple": [{"SAScheduleTupleID": 1, "PMaxSchedule": {"PMaxScheduleEntry": [{
        "RelativeTimeInterval": {"start": 0, "duration": 86400}, "PMax": din.pv(pmax_w, "W")}]}}]}


class Iso2Secc(din.DinSecc):
    STATES = STATES
    HANDLERS = {}

    def __init__(self, port, profile, cfg=None, session_id=None):
        din.DinSecc.__init__(self, port, profile, cfg, session_id)
        cfg = cfg or {}
        self.evse_id = cfg.get("evse_id_str", DEFAULT_EVSE_ID)

    def session_setup(self, b, now):
        self.ev["evccid"] = b.get("EVCCID", b"")
        self.state = din.WAIT_SERVICE_DISCOVERY
        return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": self.evse_id}

    def service_discovery(self, b, now):
        self.state = din.WAIT_PAYMENT_SELECTION
        return {"ResponseCode": "OK",
                "PaymentOptionList": {"PaymentOption": ["ExternalPayment"]},
                "ChargeService": {"ServiceID": din.SERVICE_ID_CHARGING, "ServiceCategory": "EVCharging",
                                  "FreeService": False,
                                  "SupportedEnergyTransferMode": {"EnergyTransferMode": [
                                      self.profile.get("energy_transfer", "DC_extended")]}}}

    def payment_selection(self, b, now):
        if b.get("SelectedPaymentOption") != "ExternalPayment":
            return self._fail_body("FAILED_PaymentSelectionInvalid", "payment option", now)
        sel = (b.get("SelectedServiceList") or {}).get("SelectedService") or []
        if not [x for x in sel if x.get("ServiceID") == din.SERVICE_ID_CHARGING]:
            return self._fail_body("FAILED_ServiceSelectionInvalid", "service selection", now)
        self.state = din.WAIT_AUTHORIZATION
        return {"ResponseCode": "OK"}

    def authorization(self, b, now):
        self.state = din.WAIT_CHARGE_PARAMETER
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}

    def charge_parameter_discovery(self, b, now):
        if b.get("RequestedEnergyTransferMode") not in ENERGY_TYPES:
            return self._fail_body("FAILED_WrongEnergyTransferType", "energy transfer mode", now)
        b2 = dict(b)
        b2["EVRequestedEnergyTransferType"] = b["RequestedEnergyTransferMode"]
        r = din.DinSecc.charge_parameter_discovery(self, b2, now)
        if r.get("ResponseCode") != "OK":
            return r
        r["SAScheduleList"] = _schedule(self.port.max_p)
        return r

    def power_delivery(self, b, now):
        cp = b.get("ChargeProgress")
        if cp not in ("Start", "Stop"):
            return self._fail_body("FAILED", "ChargeProgress %s not supported" % cp, now)
        b2 = dict(b)
        b2["ReadyToChargeState"] = cp == "Start"
        return din.DinSecc.power_delivery(self, b2, now)

    def current_demand(self, b, now):
        r = din.DinSecc.current_demand(self, b, now)
        r["EVSEID"] = self.evse_id
        r["SAScheduleTupleID"] = 1
        return r

    def failed_body(self, res_name, code):
        body = din._failed_body(res_name, code, self)
        if res_name == "ServiceDiscoveryRes":
            del body["PaymentOptions"]
            body["PaymentOptionList"] = {"PaymentOption": ["ExternalPayment"]}
            body["ChargeService"] = {"ServiceID": 1, "ServiceCategory": "EVCharging", "FreeService": False,
                                     "SupportedEnergyTransferMode": {"EnergyTransferMode": ["DC_extended"]}}
        elif res_name == "AuthorizationRes":
            body["EVSEProcessing"] = "Finished"
        elif res_name == "ChargeParameterDiscoveryRes":
            body["SAScheduleList"] = _schedule(0)
            body["DC_EVSEChargeParameter"]["EVSEMaximumPowerLimit"] = din.pv(0.0, "W")
        elif res_name == "CurrentDemandRes":
            body["EVSEID"] = self.evse_id
            body["SAScheduleTupleID"] = 1
        return body


Iso2Secc.HANDLERS = {
    "SessionSetupReq": Iso2Secc.session_setup,
    "ServiceDiscoveryReq": Iso2Secc.service_discovery,
    "PaymentServiceSelectionReq": Iso2Secc.payment_selection,
    "AuthorizationReq": Iso2Secc.authorization,
    "ChargeParameterDiscoveryReq": Iso2Secc.charge_parameter_discovery,
    "CableCheckReq": din.DinSecc.cable_check,
    "PreChargeReq": din.DinSecc.precharge,
    "PowerDeliveryReq": Iso2Secc.power_delivery,
    "CurrentDemandReq": Iso2Secc.current_demand,
    "WeldingDetectionReq": din.DinSecc.welding_detection,
    "SessionStopReq": din.DinSecc.session_stop,
}
