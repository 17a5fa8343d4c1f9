"""The fuzz suite: schemathesis generates requests for every operation of the project's own
OpenAPI document (valid and invalid data) against a real API server on the embedded Redis,
and no answer may be a server error. ``WARNCAST_FUZZ_EXAMPLES`` sets the examples per
operation (default 10, a minute or two for the whole suite)."""
from __future__ import annotations

import dataclasses
import itertools
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from dispatcher.api import context as ctx
from dispatcher.api.openapi import OPENAPI
from dispatcher.settings import Settings
from tests.server_thread import ServerThread

EXAMPLES = int(os.environ.get("WARNCAST_FUZZ_EXAMPLES", "10"))
#: Bytes of an answer read at most (event streams do not end by themselves).
READ_BYTES = 64 * 1024
STREAMS = ("/api/v1/inbox/stream", "/api/v1/alerts/{id}/events", "/console/api/live")
#: Numbers as attackers write them, put in every path and query parameter besides what is generated.
HOSTILE = ["²", "--1", "9" * 5000, "٣", "-0", "1e3", " 7", "0x10", "18446744073709551616", "-9" * 30, "", "NaN"]
_turn = itertools.count()

@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:
    """Generated values as lines of text (the import endpoint reads NDJSON)."""
    return str(value).encode("utf-8", "surrogatepass")


schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])


class Server(ServerThread):
    """The API in a thread of its own (schemathesis calls it synchronously)."""

    def settings(self) -> Settings:
        return dataclasses.replace(Settings(data_dir=self.data_dir, workers=1), auth_failure_burst=0)

    async def prepare(self, app) -> None:
        ks = app[ctx.KEYS]
        self.tokens = {"admin": await ks.create("fuzz-admin", "admin"),
                       "issuer": await ks.create("fuzz-issuer", "issuer", ["11", "bbox:39,115,41,118"])}
        sub, token = await app[ctx.ENGINE].subscribers.create({"regions": ["110105"]})
        self.tokens["subscriber"] = token


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    store.sync().flushall()
    srv = Server(store, tmp_path_factory.mktemp("fuzz")).start()
    yield srv
    srv.stop()


def _call(case, server: Server, who: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.tokens[who]}"} if who else {}
    kwargs = case.as_transport_kwargs(base_url=server.url, headers={**(case.headers or {}), **headers})
    kwargs.pop("timeout", None)
    resp = requests.request(**kwargs, stream=True, timeout=60)
    with resp:
        seen = 0
        for chunk in resp.iter_content(8192):
            seen += len(chunk)
            if seen >= READ_BYTES or case.operation.path in STREAMS:
                break
    return resp


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, server):
    """Each generated request with no credentials, as an admin, and as the caller the operation is
    for (an issuer or a subscriber)."""
    tag = case.operation.definition.raw.get("tags", [""])[0]
    for who in (None, "admin") + ((tag,) if tag in ("issuer", "subscriber") else ()):
        resp = _call(case, server, who)
        assert resp.status_code < 500, (who, case.as_curl_command(), resp.status_code)
    value = HOSTILE[next(_turn) % len(HOSTILE)]
    if case.path_parameters or case.query:
        case.path_parameters = {k: value for k in case.path_parameters or {}}
        case.query = {k: value for k in case.query or {}} or None
        for who in ("admin", "subscriber"):
            resp = _call(case, server, who)
            assert resp.status_code < 500, (who, value[:20], case.operation.label, resp.status_code)
