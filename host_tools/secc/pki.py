"""A test V2G PKI for the SECC's TLS, generated with `cryptography` (host side only).

    paths = make_pki(dir, profile="iso20")            # -20: secp521r1 / ECDSA-SHA512
    paths = make_pki(dir, profile="iso20-ed448")      # -20: Ed448
    paths = make_pki(dir, profile="iso2")             # -2:  secp256r1 / ECDSA-SHA256

The CPO chain of ISO 15118: V2G root CA -> CPO Sub-CA 1 -> CPO Sub-CA 2 -> SECC leaf
(ISO 15118-2 Annex F / -20 Annex C certificate profiles: two sub-CA levels under the V2G
root, the SECC certificate as leaf). Key types per part of the standard:

  * ISO 15118-2 uses TLS 1.2 with ECDSA on secp256r1, 256-bit keys ([V2G2-006], [V2G2-007]),
    signatures ECDSA-SHA256, suites TLS_ECDH(E)_ECDSA_WITH_AES_128_CBC_SHA256 ([V2G2-602]).
  * ISO 15118-20 requires TLS 1.3 (reference sheet §8: [V2G20-1237], [V2G20-2356],
    [V2G20-2348]); certificates ECDSA on secp521r1 as the primary kind ([V2G20-2674],
    [V2G20-2675]), Ed448 as the alternative; TLS 1.3 suites TLS_AES_256_GCM_SHA384 and
    TLS_CHACHA20_POLY1305_SHA256 ([V2G20-2458]).
  The reference sheet names only the TLS versions; the requirement IDs for curves and suites
  are as quoted in Tinkerforge/esp32-firmware software/src/modules/iso15118/{dev_certs.h,
  isotls.cpp} and Josev iso15118 0.31.2 shared/security.py (not checked against the standard
  text here).

Files written (PEM) into `dir`, returned as a dict of the same keys:
  root          v2g_root.pem            trust anchor the EVCC holds
  root_key      v2g_root.key.pem
  sub1, sub2    cpo_sub_ca1.pem, cpo_sub_ca2.pem
  leaf          secc.pem
  leaf_key      secc.key.pem
  chain         secc_chain.pem          leaf + sub2 + sub1 (what the SECC presents)
`v2xbox secc --tls --cert-dir DIR` reads chain, leaf_key and (for mutual auth) root.
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

PROFILES = {
    # name: (key factory, signature hash or None for EdDSA)
    "iso2": (lambda: ec.generate_private_key(ec.SECP256R1()), hashes.SHA256),
    "iso20": (lambda: ec.generate_private_key(ec.SECP521R1()), hashes.SHA512),
    "iso20-ed448": (ed448.Ed448PrivateKey.generate, None),
}

FILES = {"root": "v2g_root.pem", "root_key": "v2g_root.key.pem", "sub1": "cpo_sub_ca1.pem",
         "sub2": "cpo_sub_ca2.pem", "leaf": "secc.pem", "leaf_key": "secc.key.pem", "chain": "secc_chain.pem"}


def _name(cn, org="v2xbox test PKI"):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _cert(subject, key, issuer, issuer_key, hash_cls, not_before, not_after, path_len, is_ca):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_len if is_ca else None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if is_ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                   x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hash_cls() if hash_cls is not None else None)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_pki(directory, profile="iso20", leaf_cn="SECC v2xbox", leaf_not_after=None, leaf_not_before=None,
             root_cn="V2G Root CA (test)"):
    """Generate the chain into `directory` (created if missing). -> dict of paths (see FILES).
    leaf_not_before / leaf_not_after: datetimes (UTC) to make an expired or not-yet-valid leaf."""
    if profile not in PROFILES:
        raise ValueError("unknown PKI profile %r (one of %s)" % (profile, sorted(PROFILES)))
    keygen, h = PROFILES[profile]
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_from, ca_to = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    os.makedirs(directory, exist_ok=True)
    root_k, sub1_k, sub2_k, leaf_k = keygen(), keygen(), keygen(), keygen()
    root_n, sub1_n, sub2_n = _name(root_cn), _name("CPO Sub-CA 1 (test)"), _name("CPO Sub-CA 2 (test)")
    root = _cert(root_n, root_k, root_n, root_k, h, ca_from, ca_to, 2, True)
    sub1 = _cert(sub1_n, sub1_k, root_n, root_k, h, ca_from, ca_to, 1, True)
    sub2 = _cert(sub2_n, sub2_k, sub1_n, sub1_k, h, ca_from, ca_to, 0, True)
    leaf = _cert(_name(leaf_cn), leaf_k, sub2_n, sub2_k, h, leaf_not_before or ca_from,
                 leaf_not_after or now + datetime.timedelta(days=365), None, False)
    out = {"root": _pem(root), "root_key": _key_pem(root_k), "sub1": _pem(sub1), "sub2": _pem(sub2),
           "leaf": _pem(leaf), "leaf_key": _key_pem(leaf_k), "chain": _pem(leaf) + _pem(sub2) + _pem(sub1)}
    paths = {}
    for k, data in out.items():
        p = os.path.join(directory, FILES[k])
        with open(p, "wb") as f:
            f.write(data)
        if k.endswith("_key"):
            os.chmod(p, 0o600)
        paths[k] = p
    return paths


def load_chain(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())
