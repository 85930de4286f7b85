"""What a connection's secret, certificates and version must be for the connectors to use them, checked when the
connection is saved (``sync.connections.validate_connection``): each check answers our sentence saying what is
wrong and what to paste instead, or None."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sync.connectors.base import EwsSettings, SalesforceSettings
from sync.connectors.ews.transport import VERSIONS as EWS_VERSIONS

SALESFORCE_API_VERSIONS = range(31, 100)  # 31.0 (the older ones are retired) to 99.0
_SALESFORCE_VERSION = re.compile(r"(\d{2})\.0")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


def salesforce_version_problem(version: str) -> str | None:
    """The Salesforce API version: blank (the default) or NN.0 within `SALESFORCE_API_VERSIONS`."""
    version = version.strip()
    match = _SALESFORCE_VERSION.fullmatch(version)
    if not version or (match and int(match.group(1)) in SALESFORCE_API_VERSIONS):
        return None
    default = SalesforceSettings.api_version
    return (f"Enter the Salesforce API version as NN.0, from {SALESFORCE_API_VERSIONS.start}.0 to "
            f"{SALESFORCE_API_VERSIONS.stop - 1}.0 (e.g. {default}), or leave it blank for {default}.")


def ews_version_problem(version: str) -> str | None:
    """The Exchange version of an EWS connection: blank (the default) or one the connector knows."""
    version = version.strip()
    if not version or version in EWS_VERSIONS:
        return None
    names = list(EWS_VERSIONS)
    return f"Choose {', '.join(names[:-1])} or {names[-1]}, or leave it blank for {EwsSettings.version}."


def _pem_blocks(text: str) -> list[tuple[str, str]]:
    return [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(text)]


def _private_key(block: str) -> PrivateKeyTypes:
    """The private key of one PEM block; ValueError with our sentence when it cannot be used."""
    try:
        return serialization.load_pem_private_key(block.encode(), password=None)
    except TypeError:
        raise ValueError("This private key is protected by a passphrase: paste it unencrypted (e.g. from openssl "
                         "pkey -in key.pem -out plain.pem).") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("The private key cannot be read: paste the whole PEM, from -----BEGIN PRIVATE KEY----- "
                         "to -----END PRIVATE KEY-----.") from None


def salesforce_key_problem(secret: str) -> str | None:
    """The Salesforce secret: the connected app's RSA private key (PEM), not its certificate."""
    keys = [block for kind, block in _pem_blocks(secret) if kind.endswith("PRIVATE KEY")]
    if not keys:
        if "CERTIFICATE" in secret:
            return ("This is a certificate: paste the connected app's private key (PEM), the one whose certificate "
                    "is uploaded to the app.")
        return ("Paste the connected app's private key in PEM, from -----BEGIN PRIVATE KEY----- to "
                "-----END PRIVATE KEY-----.")
    try:
        key = _private_key(keys[0])
    except ValueError as exc:
        return str(exc)
    if not isinstance(key, rsa.RSAPrivateKey):
        return "Use an RSA private key: Salesforce checks the token request's RS256 signature."
    return None


def _public_der(key: PrivateKeyTypes | x509.Certificate) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def graph_certificate_problem(secret: str) -> str | None:
    """A Graph certificate secret: the app registration's private key and its certificate, PEM, of one pair."""
    blocks = _pem_blocks(secret)
    keys = [block for kind, block in blocks if kind.endswith("PRIVATE KEY")]
    certificates = [block for kind, block in blocks if kind == "CERTIFICATE"]
    if not keys or not certificates:
        return "Paste the private key and the certificate, both PEM, one after the other."
    try:
        key = _private_key(keys[0])
    except ValueError as exc:
        return str(exc)
    try:
        certificate = x509.load_pem_x509_certificate(certificates[0].encode())
    except ValueError:
        return ("The certificate cannot be read: paste the whole PEM, from -----BEGIN CERTIFICATE----- to "
                "-----END CERTIFICATE-----.")
    if _public_der(key) != _public_der(certificate):
        return "The private key does not belong to the certificate: paste the key and the certificate of one pair."
    return None


def ca_problem(pem: str) -> str | None:
    """The trusted CA: one or more certificates (PEM) and nothing else, certainly no private key."""
    if not pem.strip():
        return None
    if "PRIVATE KEY" in pem:
        return "This holds a private key: paste only the CA's certificate (PEM), never a key."
    try:
        x509.load_pem_x509_certificates(pem.strip().encode())
    except ValueError:
        return ("The CA certificate cannot be read: paste the whole PEM, from -----BEGIN CERTIFICATE----- to "
                "-----END CERTIFICATE-----.")
    return None
