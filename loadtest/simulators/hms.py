"""Huawei Push Kit style simulator: OAuth client credentials and batch ``messages:send``.

Error knobs (``Faults.error_rates`` keys): HTTP statuses ``"401" "429" "500" "503"`` and
result codes such as ``"80200003"`` (token expired), ``"80300007"`` (all tokens invalid),
``"80300008"`` (too large), ``"80100003"`` (bad message), ``"81000001"`` (internal error).
Unregistered tokens (``unregistered_fraction``) come back in a ``80100000`` partial answer.
"""
from __future__ import annotations

import json
import secrets
import time
import uuid

from aiohttp import web

from loadtest.simulators.base import Faults
from loadtest.simulators.http_base import HttpSimulator

#: Result code -> (HTTP status, msg) as the simulator answers it.
HMS_ERRORS: dict[str, tuple[int, str]] = {
    "80200001": (401, "Oauth authentication error"),
    "80200003": (401, "Oauth Token expired"),
    "80300007": (400, "All the tokens are invalid"),
    "80300008": (413, "The message body size exceeds the default value"),
    "80100003": (400, "Illegal payload"),
    "80300002": (403, "The current app does not have the permission to send messages"),
    "81000001": (500, "System inner error"),
}
MAX_TOKENS = 1000
MAX_MESSAGE_BYTES = 4096


class HmsSimulator(HttpSimulator):
    def __init__(self, faults: Faults | None = None, *, app_id: str = "100000001",
                 client_id: str = "100000001", client_secret: str = "warncast-dev-secret",
                 token_ttl_s: int = 3600) -> None:
        super().__init__(faults)
        self.app_id = app_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_s = token_ttl_s
        #: access token -> unix expiry
        self.access_tokens: dict[str, float] = {}
        self.tokens_issued = 0
        #: token -> body of the last notification accepted for it (what the device shows)
        self.last_text: dict[str, str] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth2/v3/token", self._token)
        app.router.add_post("/v1/{app_id}/messages:send", self.apply_faults(self._send))

    def revoke_tokens(self) -> None:
        """Expire every issued access token (the next send sees 80200003)."""
        self.access_tokens.clear()

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": 1102, "error_description": "unsupported grant_type"}, status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": 1101, "error_description": "invalid client"}, status=400)
        token = secrets.token_urlsafe(24)
        self.access_tokens[token] = time.time() + self.token_ttl_s
        self.tokens_issued += 1
        return web.json_response({"access_token": token, "expires_in": self.token_ttl_s, "token_type": "Bearer"})

    def _answer(self, code: str, msg: str, status: int = 200, headers: dict | None = None) -> web.Response:
        return web.json_response({"code": code, "msg": msg, "requestId": uuid.uuid4().hex[:20]},
                                 status=status, headers=headers)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.note(request, body)
        if self.faults.down:
            return web.json_response({"code": "81000001", "msg": "flow control: service unavailable"}, status=503,
                                     headers=self.retry_after_header())
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else ""
        expiry = self.access_tokens.get(bearer)
        if expiry is None or expiry < time.time():
            code = "80200003" if expiry is not None else "80200001"
            return self._answer(code, HMS_ERRORS[code][1], status=401)
        if request.match_info["app_id"] != self.app_id:
            return self._answer("80300002", HMS_ERRORS["80300002"][1], status=403)

        error = self.faults.pick_error()
        if error is not None:
            if error in HMS_ERRORS:
                status, msg = HMS_ERRORS[error]
                if error in ("80200001", "80200003"):
                    self.access_tokens.pop(bearer, None)
                return self._answer(error, msg, status=status)
            status = int(error)
            headers = self.retry_after_header() if status in (429, 503) else None
            return web.json_response({"code": "81000001" if status >= 500 else str(status), "msg": "error"},
                                     status=status, headers=headers)

        message = (body or {}).get("message") if isinstance(body, dict) else None
        tokens = message.get("token") if isinstance(message, dict) else None
        if not isinstance(tokens, list) or not tokens:
            return self._answer("80100001", "Some request parameters are incorrect: token", status=400)
        if len(tokens) > MAX_TOKENS:
            return self._answer("80300010", "The number of tokens exceeds the default value", status=400)
        content = dict(message)
        content.pop("token")
        if len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()) > MAX_MESSAGE_BYTES:
            return self._answer("80300008", HMS_ERRORS["80300008"][1], status=413)
        try:
            data = json.loads(message.get("data") or "{}")
        except ValueError:
            return self._answer("80100003", "Illegal payload: data is not JSON", status=400)
        android = message.get("android") or {}
        collapse = str(android.get("collapse_key", ""))
        alert_id = str(data.get("alert_id", ""))

        illegal = [t for t in tokens if self.faults.unregistered(t)]
        if len(illegal) == len(tokens):
            return self._answer("80300007", HMS_ERRORS["80300007"][1], status=400)
        request_id = uuid.uuid4().hex[:20]
        self.last_text.update(dict.fromkeys(tokens, str((android.get("notification") or {}).get("body", ""))))
        bad = set(illegal)
        for i, token in enumerate(tokens):
            if token not in bad:
                self.ledger.record(f"{request_id}:{i}", token, alert_id, collapse)
        await self.stall()
        if illegal:
            msg = json.dumps({"success": len(tokens) - len(illegal), "failure": len(illegal),
                              "illegal_tokens": illegal})
            return web.json_response({"code": "80100000", "msg": msg, "requestId": request_id})
        return web.json_response({"code": "80000000", "msg": "Success", "requestId": request_id})

