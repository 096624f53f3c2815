"""Message builders shared by the CCS device tests (DIN / ISO-2 shapes)."""


def pv(v, unit):
    return {"Multiplier": 0, "Unit": unit, "Value": v}


def ev_status(soc=60):
    return {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": soc}


def req(name, body, sid):
    return {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {name: body}}}


def body(res):
    """(response name, content) of a DIN / ISO-2 response message."""
    b = res["V2G_Message"]["Body"]
    for k in b:
        return k, b[k]
