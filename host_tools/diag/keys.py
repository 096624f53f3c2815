"""Key material of the technician tool.

A key directory holds
  signing.pem   Ed25519 private key that signs images (keep it offline in production);
  signing.pub   its raw 32-byte public key, hex (what the box trusts);
  master.key    32-byte SecurityAccess master secret, hex. Each box holds only its own
                device key = HMAC-SHA256(master, "v2xbox-sa1:" + serial), provisioned at
                end of line, so one leaked box key does not open the others.

host_tools/diag/devkeys/ is a DEVELOPMENT key set (the simulated box trusts it);
never provision real boxes with it.
"""
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEV_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "devkeys")


class KeyError_(Exception):
    pass


def generate(directory, force=False):
    try:
        return _generate(directory, force)
    except OSError as e:     # unwritable or missing directory: a clear message, not a traceback
        raise KeyError_("cannot write keys to %s: %s" % (directory, e.strerror or e))


def _generate(directory, force):
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, n) for n in ("signing.pem", "signing.pub", "master.key")]
    if not force and any(os.path.exists(p) for p in paths):
        raise KeyError_("%s already holds keys (use --force to replace them)" % directory)
    sk = Ed25519PrivateKey.generate()
    pem = sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    fd = os.open(paths[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    with open(paths[1], "w") as f:
        f.write(public_bytes(sk).hex() + "\n")
    fd = os.open(paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return paths


def public_bytes(sk):
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_signing_key(directory):
    p = os.path.join(directory, "signing.pem")
    try:
        with open(p, "rb") as f:
            sk = serialization.load_pem_private_key(f.read(), password=None)
    except FileNotFoundError:
        raise KeyError_("no signing key at %s (run `v2xbox keys generate`)" % p)
    except ValueError as e:
        raise KeyError_("%s is not a usable private key: %s" % (p, e))
    if not isinstance(sk, Ed25519PrivateKey):
        raise KeyError_("%s is not an Ed25519 key" % p)
    return sk


def load_public_key(directory):
    p = os.path.join(directory, "signing.pub")
    try:
        with open(p) as f:
            b = bytes.fromhex(f.read().strip())
    except FileNotFoundError:
        return public_bytes(load_signing_key(directory))
    except ValueError:
        raise KeyError_("%s is not a hex public key" % p)
    if len(b) != 32:
        raise KeyError_("%s does not hold a 32-byte Ed25519 public key" % p)
    return b


def load_master(directory):
    p = os.path.join(directory, "master.key")
    try:
        with open(p) as f:
            b = bytes.fromhex(f.read().strip())
    except FileNotFoundError:
        raise KeyError_("no SecurityAccess master secret at %s" % p)
    except ValueError:
        raise KeyError_("%s is not hex" % p)
    if len(b) < 16:
        raise KeyError_("%s: master secret shorter than 16 bytes" % p)
    return b


def device_key(master, serial):
    return hmac.new(master, b"v2xbox-sa1:" + serial.encode(), hashlib.sha256).digest()


def fingerprint(pub):
    return hashlib.sha256(pub).hexdigest()[:16]
