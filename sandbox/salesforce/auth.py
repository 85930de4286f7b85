"""Authentication: the OAuth token endpoint (password and JWT bearer grants), SOAP login, sessions.

The connected app for the JWT bearer flow is generated on first start into ``<data_dir>/connected-app/``:
``private-key.pem`` (what the product signs with), ``certificate.pem`` (what the emulator verifies with) and
``consumer-key.txt``. More apps can be registered through ``POST /_sandbox/connected-apps``.
"""

import datetime as dt
import secrets
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from sandbox.demo import PASSWORD
from sandbox.salesforce.errors import invalid_session
from sandbox.salesforce.http import json_response

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STANDARD_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
SOAP_NS = "urn:partner.soap.sforce.com"
ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


class Auth:
    def __init__(self, emulator):
        self.emulator = emulator
        self.store = emulator.store

    # -- connected apps ------------------------------------------------------------------------
    def ensure_connected_app(self) -> None:
        folder = self.emulator.data_dir / "connected-app"
        key_path, cert_path, ck_path = (folder / "private-key.pem", folder / "certificate.pem",
                                        folder / "consumer-key.txt")
        if not (key_path.exists() and cert_path.exists() and ck_path.exists()):
            folder.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sync sandbox connected app")])
            now = dt.datetime.now(dt.UTC)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
            key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
            key_path.chmod(0o600)
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            ck_path.write_text("3MVG9sandbox" + secrets.token_urlsafe(48).replace("-", "x").replace("_", "y") + "\n")
        self.register_app(ck_path.read_text().strip(), cert_path.read_text())

    def register_app(self, consumer_key: str, certificate_pem: str) -> None:
        x509.load_pem_x509_certificate(certificate_pem.encode())  # raises ValueError when it is not one
        apps = dict(self.store.get_kv("connected_apps", {}))
        apps[consumer_key] = certificate_pem
        self.store.set_kv("connected_apps", apps)

    # -- sessions ------------------------------------------------------------------------------
    def issue(self, user: dict) -> str:
        token = f"{self.emulator.org_id[:15]}!{secrets.token_urlsafe(72)}"
        lifetime = float(self.emulator.setting("session_lifetime_seconds"))
        self.store.add_session(token, user["Id"], self.emulator.now().timestamp() + lifetime)
        return token

    def user_for(self, request: Request) -> dict:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise invalid_session()
        session = self.store.sessions.get(token.strip())
        if session is None or session[1] <= self.emulator.now().timestamp():
            raise invalid_session()
        user = self.store.get(session[0])
        if user is None or not user.get("IsActive"):
            raise invalid_session()
        return user

    def token_of(self, request: Request) -> str | None:
        return request.headers.get("Authorization", "").partition(" ")[2].strip() or None

    def expire(self, username: str | None = None, token: str | None = None) -> int:
        victims = []
        with self.store.lock:
            sessions = list(self.store.sessions.items())
        for key, (user_id, _expires) in sessions:
            user = self.store.get(user_id) or {}
            if (token is None and username is None) or key == token or \
                    (username and user.get("Username", "").lower() == username.lower()):
                victims.append(key)
        self.store.drop_sessions(victims)
        return len(victims)

    # -- endpoints -----------------------------------------------------------------------------
    @staticmethod
    def pattern(path: str) -> str:
        return "/services/Soap/u/{version}" if path.startswith("/services/Soap/u/") else path.rstrip("/")

    def base_url(self, request: Request) -> str:
        return f"{request.scheme}://{request.host}"

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/services/Soap/u/"):
            return self.soap_login(request)
        if request.path.rstrip("/") != "/services/oauth2/token":
            return oauth_error("invalid_request", "unsupported endpoint", 404)
        if request.method != "POST":
            return oauth_error("invalid_request", "must use HTTP POST", 405)
        grant = request.form.get("grant_type", "")
        if grant == "password":
            return self.password_grant(request)
        if grant == JWT_GRANT:
            return self.jwt_grant(request)
        if not grant:
            return oauth_error("unsupported_grant_type", "grant type not supported")
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def token_response(self, request: Request, user: dict, extra: dict | None = None) -> Response:
        base = self.base_url(request)
        with self.emulator.lock:
            self.emulator.calls_by_user[user["Username"]] += 1
        body = {
            "access_token": self.issue(user), "instance_url": base,
            "id": f"{base}/id/{self.emulator.org_id}/{user['Id']}", "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)), "signature": secrets.token_urlsafe(32) + "=",
            "scope": "api",
        }
        body.update(extra or {})
        return json_response(body)

    def password_grant(self, request: Request) -> Response:
        if not request.form.get("client_id"):
            return oauth_error("invalid_client_id", "client identifier invalid")
        user = self.emulator.user_by_username(request.form.get("username", ""))
        if user is None or not user.get("IsActive") or request.form.get("password") != PASSWORD:
            return oauth_error("invalid_grant", "authentication failure")
        return self.token_response(request, user)

    def jwt_grant(self, request: Request) -> Response:
        assertion = request.form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        if header.get("alg") != "RS256":
            return oauth_error("invalid_grant", "invalid assertion")
        apps = self.store.get_kv("connected_apps", {})
        certificate = apps.get(str(claims.get("iss", "")))
        if certificate is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        public_key = x509.load_pem_x509_certificate(certificate.encode()).public_key()
        try:
            jwt.decode(assertion, public_key, algorithms=["RS256"],
                       options={"verify_exp": False, "verify_aud": False, "verify_iss": False})
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        allowed = (*STANDARD_AUDIENCES, self.base_url(request))
        if not any(str(a).rstrip("/") in allowed for a in audiences):
            return oauth_error("invalid_grant", "audience is invalid")
        try:
            expires = float(claims.get("exp"))
        except (TypeError, ValueError):
            return oauth_error("invalid_grant", "invalid assertion")
        if expires <= self.emulator.now().timestamp():
            return oauth_error("invalid_grant", "expired authorization code")
        user = self.emulator.user_by_username(str(claims.get("sub", "")))
        if user is None:
            return oauth_error("invalid_grant", "user hasn't approved this consumer")
        if not user.get("IsActive"):
            return oauth_error("invalid_grant", "inactive user")
        return self.token_response(request, user)

    def soap_login(self, request: Request) -> Response:
        version = request.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            root = ET.fromstring(request.get_data())
            login = root.find(f"{{{ENVELOPE_NS}}}Body/{{{SOAP_NS}}}login")
            username = login.findtext(f"{{{SOAP_NS}}}username") if login is not None else None
            password = login.findtext(f"{{{SOAP_NS}}}password") if login is not None else None
        except ET.ParseError:
            return soap_fault("INVALID_REQUEST", "Unable to parse the SOAP request body")
        if login is None:
            return soap_fault("INVALID_OPERATION", "No operation available for request")
        user = self.emulator.user_by_username(username or "")
        if user is None or not user.get("IsActive") or password != PASSWORD:
            return soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        with self.emulator.lock:
            self.emulator.calls_by_user[user["Username"]] += 1
        base, org = self.base_url(request), self.emulator.org_id
        lifetime = int(float(self.emulator.setting("session_lifetime_seconds")))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
            'soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
            'instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{org}</serverUrl>"
            f"<sessionId>{escape(self.issue(user))}</sessionId><userId>{user['Id']}</userId><userInfo>"
            "<accessibilityMode>false</accessibilityMode><currencySymbol>$</currencySymbol>"
            "<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>"
            f"<organizationId>{org}</organizationId><organizationMultiCurrency>false</organizationMultiCurrency>"
            "<organizationName>Sandbox Org</organizationName>"
            f"<profileId>{user['ProfileId']}</profileId><roleId xsi:nil=\"true\"/>"
            f"<sessionSecondsValid>{lifetime}</sessionSecondsValid>"
            f"<userEmail>{escape(user['Email'])}</userEmail><userFullName>{escape(user['Name'])}</userFullName>"
            f"<userId>{user['Id']}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale>"
            f"<userName>{escape(user['Username'])}</userName><userTimeZone>GMT</userTimeZone>"
            "<userType>Standard</userType><userUiSkin>Theme3</userUiSkin>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, status=200, content_type="text/xml; charset=utf-8")

    def identity(self, request: Request) -> Response:
        user = self.user_for(request)
        return json_response({"id": f"{self.base_url(request)}/id/{self.emulator.org_id}/{user['Id']}",
                              "user_id": user["Id"], "organization_id": self.emulator.org_id,
                              "username": user["Username"], "email": user["Email"],
                              "display_name": user["Name"], "active": user["IsActive"]})


def soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
        f'instance"><soapenv:Body><soapenv:Fault><faultcode>{code}</faultcode><faultstring>{code}: '
        f'{escape(message)}</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}'
        f"</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault>"
        "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status=500, content_type="text/xml; charset=utf-8")
