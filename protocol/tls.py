"""TLS helpers: certificate fingerprints and client contexts pinned to one node's certificate.

Nodes use self-signed certificates made by ``mpc-node keygen``; the manifest carries each
certificate and its SHA-256 fingerprint.  A client trusts exactly that certificate for that node
and nothing else (no system CA can vouch for a node).
"""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


def cert_fingerprint(pem: str) -> str:
    """Hex SHA-256 of the certificate's DER encoding (raises ValueError on a bad PEM)."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def pinned_client_context(cert_pem: str, client_cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    """An SSL context that trusts only ``cert_pem`` (hostname still checked against its SANs).

    ``client_cert`` is an optional (certfile, keyfile) pair for mutual TLS.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=cert_pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        ctx.load_cert_chain(client_cert[0], client_cert[1])
    return ctx
