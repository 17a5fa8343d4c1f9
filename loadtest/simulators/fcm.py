"""FCM HTTP v1 simulator: the OAuth2 token endpoint and ``messages:send``.

The token endpoint verifies the RS256 JWT assertion against the service account's
public key (``iss``, ``aud``, ``scope``, ``exp``) and issues bearers that
``messages:send`` checks.

Error knobs (``Faults.error_rates`` keys): FcmError codes ``"UNREGISTERED"``,
``"INVALID_ARGUMENT"`` (message), ``"INVALID_TOKEN"`` (INVALID_ARGUMENT on the token),
``"QUOTA_EXCEEDED"``, ``"UNAVAILABLE"``, ``"INTERNAL"``, ``"SENDER_ID_MISMATCH"``,
``"THIRD_PARTY_AUTH_ERROR"``, ``"UNAUTHENTICATED"`` (revokes the bearer), or the HTTP
statuses ``"400" "401" "403" "404" "429" "500" "503"``.
"""
from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loadtest.simulators.base import Faults
from loadtest.simulators.http_base import HttpSimulator

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
MAX_MESSAGE_BYTES = 4096

#: knob -> (HTTP status, google.rpc status, FcmError errorCode or None, message)
FCM_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload received."),
    "INVALID_TOKEN": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                      "The registration token is not a valid FCM registration token"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for sending messages."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service"),
    "UNAUTHENTICATED": (401, "UNAUTHENTICATED", None, "Request had invalid authentication credentials."),
    "400": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload received."),
    "401": (401, "UNAUTHENTICATED", None, "Request had invalid authentication credentials."),
    "403": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "404": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "429": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for sending messages."),
    "500": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    "503": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
}


def error_body(status: int, rpc_status: str, code: str | None, message: str, token_field: bool = False) -> dict:
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": code})
    if token_field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]})
    return {"error": {"code": status, "message": message, "status": rpc_status, "details": details}}


class FcmSimulator(HttpSimulator):
    def __init__(self, faults: Faults | None = None, *, service_account: dict[str, Any] | None = None,
                 token_ttl_s: int = 3600) -> None:
        super().__init__(faults)
        self.service_account = service_account or load_dev_service_account()
        self.project_id = self.service_account["project_id"]
        private = serialization.load_pem_private_key(self.service_account["private_key"].encode(), None)
        self._public_key = private.public_key()
        self.token_ttl_s = token_ttl_s
        #: bearer -> unix expiry
        self.access_tokens: dict[str, float] = {}
        self.tokens_issued = 0
        #: token -> body of the last notification accepted for it (what the device shows)
        self.last_text: dict[str, str] = {}

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @staticmethod
    def make_service_account(project_id: str = "warncast-sim", token_uri: str = "") -> dict[str, Any]:
        """A service account JSON with a freshly generated RSA key (set token_uri to the simulator's)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": f"warncast@{project_id}.iam.gserviceaccount.com",
            "client_id": str(secrets.randbelow(10**20)),
            "token_uri": token_uri or "http://127.0.0.1:9102/token",
        }

    def revoke_tokens(self) -> None:
        """Invalidate every issued bearer (the next send is answered 401)."""
        self.access_tokens.clear()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self.apply_faults(self._send))

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(str(form.get("assertion", "")), self._public_key, algorithms=["RS256"],
                                audience=self.token_uri, options={"require": ["iss", "aud", "iat", "exp"]})
        except jwt.PyJWTError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        if claims.get("iss") != self.service_account["client_email"] or claims.get("scope") != SCOPE:
            return web.json_response({"error": "invalid_grant", "error_description": "iss or scope"}, status=400)
        if claims["exp"] - claims["iat"] > 3600:
            return web.json_response({"error": "invalid_grant", "error_description": "exp too far"}, status=400)
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[token] = time.time() + self.token_ttl_s
        self.tokens_issued += 1
        return web.json_response({"access_token": token, "expires_in": self.token_ttl_s, "token_type": "Bearer"})

    def _error(self, knob: str) -> web.Response:
        status, rpc_status, code, message = FCM_ERRORS[knob]
        headers = self.retry_after_header() if status in (429, 503, 500) else None
        return web.json_response(error_body(status, rpc_status, code, message, token_field=knob == "INVALID_TOKEN"),
                                 status=status, headers=headers)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.note(request, body)
        if self.faults.down:
            return self._error("UNAVAILABLE")
        auth = request.headers.get("Authorization", "")
        expiry = self.access_tokens.get(auth[7:] if auth.startswith("Bearer ") else "")
        if expiry is None or expiry < time.time():
            return self._error("UNAUTHENTICATED")
        if request.match_info["project"] != self.project_id:
            return self._error("SENDER_ID_MISMATCH")
        knob = self.faults.pick_error()
        if knob is not None:
            if knob in ("UNAUTHENTICATED", "401"):
                self.access_tokens.pop(auth[7:], None)
            return self._error(knob)
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            return self._error("INVALID_ARGUMENT")
        token = message.get("token")
        if not isinstance(token, str) or not token:
            return self._error("INVALID_TOKEN")
        content = {k: v for k, v in message.items() if k != "token"}
        if len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()) > MAX_MESSAGE_BYTES:
            return web.json_response(error_body(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                                "Message is too big"), status=400)
        data = message.get("data") or {}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return self._error("INVALID_ARGUMENT")
        if self.faults.unregistered(token):
            return self._error("UNREGISTERED")
        android = message.get("android") or {}
        message_id = f"projects/{self.project_id}/messages/0:{uuid.uuid4().hex}"
        self.last_text[token] = str((message.get("notification") or {}).get("body", ""))
        self.ledger.record(message_id, token, str(data.get("alert_id", "")), str(android.get("collapse_key", "")))
        await self.stall()
        return web.json_response({"name": message_id})


def load_dev_service_account(directory: str | os.PathLike[str] = "var/simulators") -> dict[str, Any]:
    """The development service account shared by the simulator and ``FcmSettings``' default; made once."""
    path = Path(directory) / "fcm-service-account.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    account = FcmSimulator.make_service_account()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(account, indent=2), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return account
