"""Node key material: the HPKE key pair for incoming shares and a self-signed TLS certificate.

The TLS certificate serves the HTTPS ingest API and authenticates the node on the MPyC links
(mutual TLS, pinned by fingerprint from the manifest).  Private keys are written 0600 and never
leave the node directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from pathlib import Path
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol.envelope import generate_keypair, private_key_from_bytes
from protocol.errors import SurveyError
from protocol.manifest import NodeInfo
from protocol.tls import cert_fingerprint

PUBLIC_FILE = "node.json"
HPKE_KEY_FILE = "hpke.key"
TLS_CERT_FILE = "tls.crt"
TLS_KEY_FILE = "tls.key"
DB_FILE = "node.db"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _san_for(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        ip = ipaddress.ip_address(host)
        if str(ip) != "127.0.0.1":
            names.append(x509.IPAddress(ip))
    except ValueError:
        if host and host != "localhost":
            names.append(x509.DNSName(host))
    return names


def make_certificate(name: str, host: str, valid_days: int = 730) -> tuple[bytes, bytes]:
    """A self-signed P-256 certificate (PEM) and its private key (PEM) for ``host``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"salary-mpc node {name}")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(_san_for(host)), critical=False)
        # Self-signed and pinned: the certificate is its own trust anchor.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def keygen(node_dir: Path, name: str, url: str, mpc_address: str, web_url: str = "") -> NodeInfo:
    """Create a node directory with fresh keys; refuses to overwrite existing keys.  ``web_url``:
    the HTTPS base URL browsers use (a proxy with a browser-trusted certificate), if any."""
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname or not parsed.port:
        raise SurveyError(f"--url must look like https://HOST:PORT, got {url!r}")
    web = urlparse(web_url)
    if web_url and (web.scheme != "https" or not web.hostname or web.query or web.fragment):
        raise SurveyError(f"--web-url must look like https://HOST[:PORT][/PATH], got {web_url!r}")
    node_dir.mkdir(parents=True, exist_ok=True)
    if (node_dir / HPKE_KEY_FILE).exists() or (node_dir / TLS_KEY_FILE).exists():
        raise SurveyError(f"{node_dir} already holds node keys; refusing to overwrite them")
    sk, pk = generate_keypair()
    cert_pem, key_pem = make_certificate(name, parsed.hostname)
    _write_private(node_dir / HPKE_KEY_FILE, sk)
    _write_private(node_dir / TLS_KEY_FILE, key_pem)
    (node_dir / TLS_CERT_FILE).write_bytes(cert_pem)
    info = NodeInfo(name=name, url=url.rstrip("/"), mpc_address=mpc_address, hpke_public_key=pk.hex(),
                    tls_cert_pem=cert_pem.decode(), tls_cert_sha256=cert_fingerprint(cert_pem.decode()),
                    web_url=web_url.rstrip("/"))
    info.validate()
    (node_dir / PUBLIC_FILE).write_text(json.dumps(info.to_json_dict(), indent=2) + "\n")
    return info


def load_public(node_dir: Path) -> NodeInfo:
    try:
        return NodeInfo(**json.loads((node_dir / PUBLIC_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        raise SurveyError(f"{node_dir} is not a node directory (run 'mpc-node keygen' first)") from None


def load_hpke_private(node_dir: Path) -> X25519PrivateKey:
    try:
        return private_key_from_bytes((node_dir / HPKE_KEY_FILE).read_bytes())
    except (OSError, ValueError):
        raise SurveyError(f"cannot read the node's HPKE key in {node_dir}") from None
