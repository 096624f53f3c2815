"""ISO 15118-2 DC (EIM, no TLS), SECC side, in the spec's message order. Sans-IO, MicroPython-compatible.

Same discharge logic as DIN SPEC 70121 (din/dc.py: present voltage from measurement,
reported-current strategy, isolation status, SoC floor, EVSEMaximum*Limit always present,
physical precharge, welding detection with the link bled); what differs is the message
set and shapes of ISO 15118-2:2014 (renamed ServicePaymentSelection ->
PaymentServiceSelection, ContractAuthentication -> Authorization; PowerDelivery with
ChargeProgress Start/Stop; PhysicalValue PMax; EVSEID and SAScheduleTupleID in
CurrentDemandRes; SessionStop with ChargingSession Terminate/Pause).

SAE J2847/2 V2H / V2G (cfg "j2847": "V2H" or "V2G"; EVerest EvseManager
sae_j2847_2_bpt_enabled/_mode, sheet §7): ServiceDiscoveryRes offers the value-added
service SAE_V2H 28472 or SAE_V2G 28473; when the EV selects it, its first
ChargeParameterDiscovery is answered Ongoing and its second carries negative
EVMaximumCurrentLimit / EVMaximumPowerLimit (the discharge limits) and BulkSOC, used as
the minimum SoC: EVSE_Shutdown once EVRESSSOC <= it (default 20 %). In that mode the
direction is honest: EVSEPresentCurrent is reported negative (out of the car).

Table STATES below; a request outside it gets FAILED_SequenceError [V2G2-538], a foreign
SessionID FAILED_UnknownSession [V2G2-460], and after any FAILED response the SECC sends the
response and then closes the TCP connection [V2G2-539] [V2G2-034]; a FAILED response carries
only what its schema requires [V2G2-736] (failed_body). SessionStopReq is accepted from
ChargeParameterDiscovery on (EvseV2G's allowed-request masks after
ChargeParameterDiscoveryRes/CableCheckRes).

Requirement IDs are ISO 15118-2:2014 [V2G2-nnn] as cited by EVerest EvseV2G
(everest-core modules/EvseV2G/iso_server.cpp) and Josev (iso15118/secc/states/secc_state.py);
the sequence timeout, the CableCheck / PreCharge limits and the performance times are the
DIN module's (sheet §6, §8). Where the box deliberately differs it says so next to the rule.
"""
from firmware.protocols.ccs.din import dc as din

# states: the DIN module's numbering, ISO-2 request names; each row whitelists the requests
# accepted there, anything else is FAILED_SequenceError [V2G2-538]
STATES = (
    ("SessionSetupReq",),                                       # first request after SAP
    ("ServiceDiscoveryReq",),                                   # after SessionSetupRes
    ("PaymentServiceSelectionReq", "ServiceDetailReq"),         # after ServiceDiscoveryRes; ServiceDetail loops
    ("AuthorizationReq",),                                      # EIM: no PaymentDetails (no Contract offered)
    ("ChargeParameterDiscoveryReq", "SessionStopReq"),          # after AuthorizationRes Finished; CPD Ongoing loops
    ("CableCheckReq", "SessionStopReq"),                        # after CPD Finished; CableCheck Ongoing loops
    ("PreChargeReq", "PowerDeliveryReq", "SessionStopReq"),     # after CableCheck Finished; PreCharge loops
    ("CurrentDemandReq", "PowerDeliveryReq"),                   # after PowerDelivery Start; loop until Stop
    ("WeldingDetectionReq", "SessionStopReq"),                  # after PowerDelivery Stop
    (),
)

ENERGY_TYPES = ("DC_core", "DC_extended")
DEFAULT_EVSE_ID = "ZZ00000"       # EVSEID is a string in ISO-2 (7..37 characters)
SAE_V2H = 28472                   # everest-core EvseV2G/iso_server.cpp (sheet §7)
SAE_V2G = 28473
J2847_CPD_ROUNDS = 20             # give up waiting for the negative limits after this many CPDs


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
        mode = cfg.get("j2847")
        self.j2847_service = SAE_V2H if mode == "V2H" else SAE_V2G if mode == "V2G" else 0
        self.j2847 = False             # the EV selected the service
        self.bpt_limits = None         # (discharge A, discharge W) from the EV's negative limits
        self.min_soc = None
        self.cpd_rounds = 0

    def session_setup(self, b, now):
        # a new SessionID (set by the Secc, never 0) and OK_NewSessionEstablished [V2G2-756];
        # resuming a paused session (OK_OldSessionJoined) is not offered
        self.ev["evccid"] = b.get("EVCCID", b"")
        self.state = din.WAIT_SERVICE_DISCOVERY
        return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": self.evse_id}

    def service_discovery(self, b, now):
        # ChargeService ServiceID 1 / EVCharging; only ExternalPayment (EIM) without TLS, so no
        # Contract payment option is offered
        self.state = din.WAIT_PAYMENT_SELECTION
        r = {"ResponseCode": "OK",
             "PaymentOptionList": {"PaymentOption": ["ExternalPayment"]},
             "ChargeService": {"ServiceID": din.SERVICE_ID_CHARGING, "ServiceCategory": "EVCharging",
                               "FreeService": False,
                               "SupportedEnergyTransferMode": {"EnergyTransferMode": [
                                   self.profile.get("energy_transfer", "DC_extended")]}}}
        if self.j2847_service:
            r["ServiceList"] = {"Service": [{"ServiceID": self.j2847_service,
                                             "ServiceName": "SAE_V2H" if self.j2847_service == SAE_V2H else "SAE_V2G",
                                             "ServiceCategory": "OtherCustom", "FreeService": True}]}
        return r

    def service_detail(self, b, now):
        sid = b.get("ServiceID")
        if sid != din.SERVICE_ID_CHARGING and (not self.j2847_service or sid != self.j2847_service):
            return self._fail_body("FAILED_ServiceIDInvalid", "service detail of %s" % sid, now)   # [V2G2-464]
        return {"ResponseCode": "OK", "ServiceID": sid}

    def payment_selection(self, b, now):
        if b.get("SelectedPaymentOption") != "ExternalPayment":
            return self._fail_body("FAILED_PaymentSelectionInvalid", "payment option", now)     # [V2G2-465]
        sel = (b.get("SelectedServiceList") or {}).get("SelectedService") or []
        if not [x for x in sel if x.get("ServiceID") == din.SERVICE_ID_CHARGING]:
            return self._fail_body("FAILED_NoChargeServiceSelected", "service selection", now)  # [V2G2-804]
        for x in sel:
            sid = x.get("ServiceID")
            if sid != din.SERVICE_ID_CHARGING:
                if not self.j2847_service or sid != self.j2847_service:                          # [V2G2-467]
                    return self._fail_body("FAILED_ServiceSelectionInvalid", "service %s not offered" % sid, now)
                self.j2847 = True
        self.state = din.WAIT_AUTHORIZATION
        return {"ResponseCode": "OK"}

    def authorization(self, b, now):
        # EIM is done outside the protocol (the box's own start): Finished at once; EvseV2G answers
        # Ongoing_WaitingForCustomerInteraction [V2G2-854] while it waits for an external authorisation
        self.state = din.WAIT_CHARGE_PARAMETER
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}

    def charge_parameter_discovery(self, b, now):
        if b.get("RequestedEnergyTransferMode") not in ENERGY_TYPES:
            # a mode the SECC did not offer [V2G2-476]; a charge parameter of the wrong kind (AC for a
            # DC mode) is FAILED_WrongChargeParameter [V2G2-477] (the DIN handler: no DC_EVChargeParameter)
            return self._fail_body("FAILED_WrongEnergyTransferMode", "energy transfer mode", now)
        b2 = dict(b)
        b2["EVRequestedEnergyTransferType"] = b["RequestedEnergyTransferMode"]
        r = din.DinSecc.charge_parameter_discovery(self, b2, now)
        if r.get("ResponseCode") != "OK":
            return r
        r["SAScheduleList"] = _schedule(self.port.max_p)    # SAScheduleTupleID in 1..255 [V2G2-773]
        if self.j2847:
            self.cpd_rounds += 1
            cp = b.get("DC_EVChargeParameter") or {}
            a = self.ev["max_a"]
            w = self.ev["max_w"]
            if a is not None and a < 0:
                # SAE J2847/2: negative limits = the discharge limits; BulkSOC = minimum SoC
                self.bpt_limits = (-a, -w if w is not None and w < 0 else self.port.max_p)
                self.min_soc = cp.get("BulkSOC", 20)
                self.ev["max_a"], self.ev["max_w"] = self.bpt_limits
            elif self.cpd_rounds < J2847_CPD_ROUNDS:
                self.state = din.WAIT_CHARGE_PARAMETER
                r["EVSEProcessing"] = "Ongoing"
        return r

    def power_delivery(self, b, now):
        # Start while the EVSE is not ready: FAILED_PowerDeliveryNotApplied [V2G2-480] (din handler);
        # Start again after the charge loop: FAILED [V2G2-812]; Renegotiate is not offered (FAILED)
        cp = b.get("ChargeProgress")
        if cp not in ("Start", "Stop"):
            return self._fail_body("FAILED", "ChargeProgress %s not supported" % cp, now)
        b2 = dict(b)
        b2["ReadyToChargeState"] = cp == "Start"
        return din.DinSecc.power_delivery(self, b2, now)

    def current_demand(self, b, now):
        if self.min_soc is not None:
            st = b.get("DC_EVStatus") or {}
            if st.get("EVRESSSOC", 100) <= self.min_soc:
                self.stop("j2847-min-soc")
        if self.bpt_limits is not None:
            # the loop's EV limits are charge limits; the negotiated discharge limits stay in force
            b = dict(b)
            for k in ("EVMaximumCurrentLimit", "EVMaximumPowerLimit"):
                if k in b:
                    del b[k]
        r = din.DinSecc.current_demand(self, b, now)
        r["EVSEID"] = self.evse_id
        r["SAScheduleTupleID"] = 1
        return r

    def reported_current(self):
        a = din.DinSecc.reported_current(self)
        return -abs(self.port.current_a()) if self.j2847 and self.bpt_limits is not None else a

    def failed_body(self, res_name, code):
        body = din._failed_body(res_name, code, self)
        if res_name == "ServiceDiscoveryRes":
            del body["PaymentOptions"]
            body["PaymentOptionList"] = {"PaymentOption": ["ExternalPayment"]}
            body["ChargeService"] = {"ServiceID": 1, "ServiceCategory": "EVCharging", "FreeService": False,
                                     "SupportedEnergyTransferMode": {"EnergyTransferMode": ["DC_extended"]}}
        elif res_name == "ServiceDetailRes":
            body["ServiceID"] = 1
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
    "ServiceDetailReq": Iso2Secc.service_detail,
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
