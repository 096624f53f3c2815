"""The EXIficient codec shipped in Josev (PyPI `iso15118`, EXICodec.jar), driven over py4j.

Used as the reference peer in the differential tests and the benchmark. It
takes and returns messages in the JSON form of host_tools.exi.jsonform
(hexBinary as upper-case hex, base64Binary as base64 text), keyed by the
namespace of the schema set.
"""
import glob
import json
import logging
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# schema set -> namespace string the jar selects its grammar by
NAMESPACES = {
    "app": "urn:iso:15118:2:2010:AppProtocol",
    "din": "urn:din:70121:2012:MsgDef",
    "iso2": "urn:iso:15118:2:2013:MsgDef",
    "iso20": "urn:iso:std:iso:15118:-20:CommonMessages",
    "iso20dc": "urn:iso:std:iso:15118:-20:DC",
    "iso20ac": "urn:iso:std:iso:15118:-20:AC",
}


class PeerError(Exception):
    pass


def find_jar():
    """EXICodec.jar of the iso15118 package in build/josev-venv (or importable here)."""
    cands = glob.glob(os.path.join(ROOT, "build", "josev-venv", "lib", "python3*", "site-packages",
                                   "iso15118", "shared", "EXICodec.jar"))
    try:
        import importlib.util
        spec = importlib.util.find_spec("iso15118")
        if spec is not None and spec.submodule_search_locations:
            for p in spec.submodule_search_locations:
                cands.append(os.path.join(p, "shared", "EXICodec.jar"))
    except (ImportError, ValueError):
        pass
    for c in cands:
        if os.path.isfile(c):
            return c
    raise PeerError("EXICodec.jar not found: run `make build/josev-venv/.stamp`")


# EXICodec.jar's JSON binding (EclipseLink MOXy) needs JavaMail for some base64Binary fields
# (DIN certificates); Debian's libmail-java provides it (installed by the Makefile).
EXTRA_CLASSPATH = ["/usr/share/java/javax.mail.jar", "/usr/share/java/javax.activation.jar"]


class ExificientPeer:
    """One JVM running EXICodec; encode/decode one message per call."""

    def __init__(self, jar=None):
        from py4j.java_gateway import JavaGateway

        logging.getLogger("py4j").setLevel(logging.CRITICAL)
        self.gateway = JavaGateway.launch_gateway(
            classpath=os.pathsep.join([jar or find_jar()] + [p for p in EXTRA_CLASSPATH if os.path.isfile(p)]),
            die_on_exit=True,
            javaopts=["--add-opens", "java.base/java.lang=ALL-UNNAMED"],
        )
        self.codec = self.gateway.jvm.com.siemens.ct.exi.main.cmd.EXICodec()

    def encode_json(self, text, schema):
        out = self.codec.encode(text, NAMESPACES[schema])
        if out is None:
            raise PeerError(self.codec.get_last_encoding_error())
        return bytes(out)

    def decode_json(self, data, schema):
        out = self.codec.decode(bytes(data), NAMESPACES[schema])
        if out is None:
            raise PeerError(self.codec.get_last_decoding_error())
        return out

    def encode(self, msg, schema):
        return self.encode_json(json.dumps(msg), schema)

    def decode(self, data, schema):
        return json.loads(self.decode_json(data, schema))

    def close(self):
        try:
            self.gateway.shutdown()
        except Exception:
            pass
