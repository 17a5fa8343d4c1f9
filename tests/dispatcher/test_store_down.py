"""While Redis is unreachable the API answers 503 with Retry-After (a gateway re-posts its delivery
reports later), never 500."""
from __future__ import annotations

import time
from dataclasses import replace

import orjson

from channels.sms import sign_reports
from dispatcher.store import start_embedded
from tests.dispatcher.conftest import open_api

SECRET = "s3cret-for-the-test"


async def test_sms_reports_while_redis_is_down_are_answered_503_with_retry_after(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_SECRET", SECRET)
    monkeypatch.setenv("WARNCAST_SMS_URL", "http://127.0.0.1:9")
    store = start_embedded(tmp_path / "redis")
    try:
        async with open_api(store, replace(settings, channels=("sms",), sms_transport="http")) as api:
            body = orjson.dumps({"reports": [{"message_id": "m1", "status": "DELIVERED", "done_at": time.time()}]})

            async def post():
                now = str(int(time.time()))
                async with api.session.post(api.url + "/callbacks/sms", data=body, headers={
                        "Content-Type": "application/json", "X-Timestamp": now,
                        "X-Signature": sign_reports(SECRET, now, body)}) as resp:
                    return resp.status, await resp.json(), resp.headers

            status, answer, _ = await post()
            assert status == 200, answer                 # taken while Redis is up
            store.close()                                # Redis goes away
            status, answer, headers = await post()
            assert status == 503, answer
            assert int(headers["Retry-After"]) > 0
            assert "unreachable" in answer["error"]
    finally:
        store.close()
