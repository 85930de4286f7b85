"""The Microsoft identity platform as far as a daemon app needs it: the app registration, OpenID discovery,
instance discovery, the v2.0 token endpoint (client credentials with a secret or a certificate assertion) and the
validation of the access tokens Graph requests carry.

The app registration is written on first start to ``<data_dir>/app.json`` with its certificate and private key
beside it; access tokens are RS256 JWTs signed with the emulator's own key (``token-signing-key.pem``), published
at the discovery document's ``jwks_uri``.
"""

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
import uuid
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox.graph.errors import GraphError
from sandbox.graph.store import atomic_write

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TENANT_DOMAIN = "sandbox.test"
APP_ROLES = ["Contacts.ReadWrite", "Calendars.ReadWrite", "Tasks.ReadWrite.All", "User.Read.All"]
WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                    f'client_id="{GRAPH_APP_ID}"')


class TokenError(Exception):
    """An answer of the token endpoint other than a token (AADSTS error)."""

    def __init__(self, status: int, error: str, aadsts: int, description: str):
        super().__init__(description)
        self.status, self.error, self.aadsts, self.description = status, error, aadsts, description

    def body(self) -> dict:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {"error": self.error,
                "error_description": f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace} "
                                     f"Correlation ID: {correlation} Timestamp: {stamp}",
                "error_codes": [self.aadsts], "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.aadsts}"}


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Identity:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.token_lifetime = 3600
        self.app = self._ensure_app()
        self.signing_key = self._ensure_signing_key()
        public = self.signing_key.public_key()
        self.public_key = public
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha1(der).digest())  # noqa: S324 - a key id, as Entra's are thumbprints
        self.certificate = x509.load_pem_x509_certificate(Path(self.app["certificate_path"]).read_bytes())
        self._load_state()

    # ---- registration ------------------------------------------------------------------------------------------
    def _ensure_app(self) -> dict:
        path = self.dir / "app.json"
        if path.exists():
            return json.loads(path.read_text())
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sync sandbox Graph app")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
        key_path, cert_path = self.dir / "app-key.pem", self.dir / "app-cert.pem"
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        app = {"tenant_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
               "client_secret": "sbx~" + secrets.token_urlsafe(30),
               "certificate_path": str(cert_path.resolve()), "private_key_path": str(key_path.resolve()),
               "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Entra's x5t is SHA-1
               "tenant_domain": TENANT_DOMAIN}
        atomic_write(path, json.dumps(app, indent=2))
        path.chmod(0o600)
        return app

    def _ensure_signing_key(self) -> rsa.RSAPrivateKey:
        path = self.dir / "token-signing-key.pem"
        if not path.exists():
            path.write_bytes(_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
            path.chmod(0o600)
        return serialization.load_pem_private_key(path.read_bytes(), password=None)

    def _load_state(self) -> None:
        path = self.dir / "auth.json"
        self.generation = json.loads(path.read_text())["generation"] if path.exists() else 0

    def expire_tokens(self) -> None:
        """Every access token issued so far stops being accepted."""
        with self.lock:
            self.generation += 1
            atomic_write(self.dir / "auth.json", json.dumps({"generation": self.generation}))

    def knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.app["tenant_id"], TENANT_DOMAIN)

    # ---- discovery ---------------------------------------------------------------------------------------------
    def openid_configuration(self, base: str, tenant: str) -> dict:
        tid = self.app["tenant_id"]
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
            "kerberos_endpoint": f"{base}/{tenant}/kerberos",
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def jwks(self) -> dict:
        numbers = self.public_key.public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": _b64url(n),
                          "e": _b64url(e), "issuer": f"https://login.microsoftonline.com/{self.app['tenant_id']}/v2.0"}]}

    @staticmethod
    def instance_discovery(base: str, host: str, authorization_endpoint: str) -> dict:
        tenant = "common"
        if authorization_endpoint.startswith(base + "/"):
            tenant = authorization_endpoint[len(base) + 1:].split("/", 1)[0] or "common"
        return {"tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]}

    # ---- token endpoint ----------------------------------------------------------------------------------------
    def issue_token(self, base: str, tenant: str, form: dict) -> dict:
        app = self.app
        if not self.knows_tenant(tenant):
            raise TokenError(400, "invalid_request", 90002,
                             f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
                             "are signing into the correct cloud.")
        grant = form.get("grant_type")
        if not grant:
            raise TokenError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'grant_type'.")
        if grant != "client_credentials":
            raise TokenError(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type '" + grant + "'.")
        client_id = form.get("client_id", "")
        if not client_id:
            raise TokenError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'client_id'.")
        if client_id.lower() != app["client_id"]:
            raise TokenError(400, "unauthorized_client", 700016,
                             f"Application with identifier '{client_id}' was not found in the directory "
                             f"'{app['tenant_id']}'.")
        scope = form.get("scope", "")
        if scope.split() not in ([f"{GRAPH_RESOURCE}/.default"], [f"{GRAPH_APP_ID}/.default"]):
            raise TokenError(400, "invalid_scope", 1002012,
                             f"The provided value for scope {scope} is not valid. Client credential flows must "
                             "have a scope value with /.default suffixed to the resource identifier "
                             "(application ID URI).")
        if form.get("client_secret"):
            if not secrets.compare_digest(form["client_secret"], app["client_secret"]):
                raise TokenError(401, "invalid_client", 7000215,
                                 "Invalid client secret provided. Ensure the secret being sent in the request is "
                                 "the client secret value, not the client secret ID, for a secret added to app "
                                 f"'{app['client_id']}'.")
            acr = "1"
        elif form.get("client_assertion"):
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenError(400, "invalid_request", 50027,
                                 "Invalid JWT token. The client_assertion_type must be " + ASSERTION_TYPE + ".")
            self._check_assertion(form["client_assertion"], f"{base}/{tenant}/oauth2/v2.0/token")
            acr = "2"
        else:
            raise TokenError(401, "invalid_client", 7000218,
                             "The request body must contain the following parameter: 'client_assertion' or "
                             "'client_secret'.")
        now = int(time.time())
        claims = {"aud": GRAPH_RESOURCE, "iss": f"https://sts.windows.net/{app['tenant_id']}/", "iat": now,
                  "nbf": now, "exp": now + self.token_lifetime, "appid": app["client_id"], "appidacr": acr,
                  "app_displayname": "Sync sandbox Graph app", "idtyp": "app", "oid": app["client_id"],
                  "roles": APP_ROLES, "sub": app["client_id"], "tid": app["tenant_id"], "ver": "1.0",
                  "uti": secrets.token_urlsafe(16), "xms_sbx_gen": self.generation}
        token = jwt.encode(claims, self.signing_key, algorithm="RS256",
                           headers={"kid": self.kid, "x5t": self.kid, "typ": "JWT"})
        return {"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
                "access_token": token}

    def _check_assertion(self, assertion: str, endpoint: str) -> None:
        app = self.app
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenError(401, "invalid_client", 50027,
                             "JWT token is invalid or malformed.") from None
        sha1 = self.certificate.fingerprint(hashes.SHA1())  # noqa: S303 - Entra matches x5t by SHA-1
        sha256 = self.certificate.fingerprint(hashes.SHA256())
        presented = header.get("x5t#S256") or header.get("x5t") or ""
        if presented not in (_b64url(sha1), _b64url(sha256)) and presented.rstrip("=") not in (
                _b64url(sha1), _b64url(sha256)):
            raise TokenError(401, "invalid_client", 700027,
                             "Client assertion failed signature validation. Trace ID... [Reason - The key was not "
                             f"found., Thumbprint of key used by client: '{presented}', Found key 'Start=..., "
                             f"End=...', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to "
                             f"see configured keys for app Id '{app['client_id']}'.]")
        if header.get("alg") not in ("RS256", "PS256"):
            raise TokenError(401, "invalid_client", 5002738,
                             f"Invalid JWT token. '{header.get('alg')}' is not a supported signature algorithm.")
        try:
            claims = jwt.decode(assertion, self.certificate.public_key(), algorithms=[header["alg"]],
                                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False})
        except jwt.PyJWTError:
            raise TokenError(401, "invalid_client", 700027,
                             "Client assertion failed signature validation. [Reason - The provided signature value "
                             "did not match the expected signature value.]") from None
        now = time.time()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 300 \
                or (isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + 300):
            raise TokenError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        if claims.get("iss") != app["client_id"] or claims.get("sub") != app["client_id"]:
            raise TokenError(401, "invalid_client", 700021,
                             "Client assertion application identifier doesn't match 'client_id' parameter.")
        if claims.get("aud") != endpoint:
            raise TokenError(401, "invalid_client", 700212,
                             f"No matching federated identity record found for presented assertion audience "
                             f"'{claims.get('aud')}'.")

    # ---- access tokens on Graph requests -----------------------------------------------------------------------
    def authenticate(self, header: str) -> dict:
        if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
            raise _unauthorized("Access token is empty.")
        token = header[7:].strip()
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"], audience=[GRAPH_RESOURCE, GRAPH_APP_ID],
                                options={"require": ["exp", "aud", "tid"]}, leeway=0)
        except jwt.ExpiredSignatureError:
            raise _unauthorized("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("Access token validation failure. Invalid audience.") from None
        except jwt.DecodeError:
            raise _unauthorized("IDX14100: JWT is not well formed, there are no dots (.).") from None
        except jwt.PyJWTError:
            raise _unauthorized("Access token validation failure.") from None
        if claims.get("xms_sbx_gen") != self.generation:
            raise _unauthorized("Lifetime validation failed, the token is expired.")
        if claims["tid"] != self.app["tenant_id"]:
            raise _unauthorized("Access token validation failure. Invalid tenant.")
        return claims


def _unauthorized(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, [("WWW-Authenticate", WWW_AUTHENTICATE)])
