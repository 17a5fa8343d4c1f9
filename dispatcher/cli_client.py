"""How the command line talks to the API: where it is, which key, and one line for every failure.

Exit codes the commands share: 0 done, 1 the API refused the request or could not be
reached, 2 a usage or setting mistake (click's own code for usage errors).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
#: Errors of a 400/422 answer shown under its message, at most.
SHOWN_ERRORS = 20


class CliError(click.ClickException):
    """One line on stderr and an exit code: 1 for what the API or the network did, 2 for settings."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ApiTarget:
    url: str
    key: str
    url_source: str   #: "--api-url" or "WARNCAST_API_URL", named in messages
    key_source: str


def default_url() -> tuple[str, str]:
    """The API's URL from the environment: WARNCAST_API_URL, else WARNCAST_HOST/WARNCAST_PORT as `serve` reads them."""
    url = os.environ.get("WARNCAST_API_URL", "").strip()
    if url:
        return url, "WARNCAST_API_URL"
    host = os.environ.get("WARNCAST_HOST", "").strip()
    port = os.environ.get("WARNCAST_PORT", "").strip()
    if not host and not port:
        return DEFAULT_URL, "the default URL"
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port or 8080}", "WARNCAST_HOST/WARNCAST_PORT"


def target(api_url: str | None, key: str | None, need_key: bool = True) -> ApiTarget:
    """Where the API is and the key to send, from the global options or the environment."""
    url, url_source = (api_url, "--api-url") if api_url else default_url()
    check_url(url, url_source)
    key_source = "--key" if key else "WARNCAST_API_KEY"
    key = key or os.environ.get("WARNCAST_API_KEY", "").strip()
    if need_key and not key:
        raise CliError("no API key: set WARNCAST_API_KEY or pass --key "
                       "(create one with `warncast keys create --name NAME --role issuer --scope 11`)", 2)
    return ApiTarget(url.rstrip("/"), key, url_source, key_source)


def check_url(url: str, source: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"{source} is {url!r}: it needs http:// or https:// and a host, "
                       f"e.g. {DEFAULT_URL}", 2)


class ApiClient:
    """Blocking calls to the API; every failure becomes a CliError with one line naming what to do."""

    def __init__(self, where: ApiTarget, timeout_s: float = 30.0):
        self.where = where
        self.timeout_s = timeout_s

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.where.key}"} if self.where.key else {}

    def call(self, method: str, path: str, **kw) -> tuple[int, dict]:
        """(status, JSON body) of a 2xx answer; CliError for anything else."""
        headers = {**self.headers(), **kw.pop("headers", {})}
        try:
            resp = httpx.request(method, self.where.url + path, headers=headers, timeout=self.timeout_s, **kw)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        body = self.json_of(resp)
        if resp.status_code >= 400:
            raise self.refused(resp.status_code, body)
        return resp.status_code, body

    def unreachable(self, exc: httpx.HTTPError) -> CliError:
        url, source = self.where.url, self.where.url_source
        if isinstance(exc, httpx.ConnectError):
            return CliError(f"cannot reach the warncast API at {url} ({_reason(exc)}): start it with "
                            f"`warncast serve`, or point {source if source != 'the default URL' else 'WARNCAST_API_URL'}"
                            f" or --api-url at it")
        if isinstance(exc, httpx.TimeoutException):
            return CliError(f"the warncast API at {url} did not answer within {self.timeout_s:g} s; "
                            "check that it is running and not overloaded")
        if isinstance(exc, httpx.UnsupportedProtocol):
            return CliError(f"{source} is {url!r}: it needs http:// or https://", 2)
        return CliError(f"talking to the warncast API at {url} failed: {_reason(exc)}")

    def json_of(self, resp: httpx.Response) -> dict:
        try:
            body = resp.json()
        except ValueError:
            raise CliError(f"{self.where.url} answered {resp.status_code} with "
                           f"{resp.headers.get('Content-Type', 'no content type')}, not the warncast API's JSON; "
                           f"check {self.where.url_source}") from None
        return body if isinstance(body, dict) else {"items": body}

    def refused(self, status: int, body: dict) -> CliError:
        if status == 401:
            return CliError(f"the API refused the key: it is unknown or revoked (status 401); check "
                            f"{self.where.key_source}, or create a key with `warncast keys create`")
        message = str(body.get("error") or f"status {status}")
        lines = [f"{message} (status {status})"]
        for e in (body.get("errors") or [])[:SHOWN_ERRORS]:
            if isinstance(e, dict):
                where = e.get("path") or e.get("field") or ""
                lines.append(f"  {where}: {e.get('message', '')}" if where else f"  {e.get('message', '')}")
        more = len(body.get("errors") or []) - SHOWN_ERRORS
        if more > 0:
            lines.append(f"  … and {more} more")
        return CliError("\n".join(lines))


def _reason(exc: Exception) -> str:
    """The innermost cause's words, e.g. 'connection refused' rather than a chain of wrappers."""
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "Errno -2" in text or "Errno -3" in text:
        return "unknown host name"
    return text.splitlines()[0]
