"""A 401 says what was wrong: no credentials, or credentials nobody issued (or since revoked)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("headers, message", [
    ({}, "send an API key or subscriber token as 'Authorization: Bearer …'"),
    ({"Authorization": "Bearer wk_made-up"}, "the API key is unknown or revoked; create one with `warncast keys create`"),
    ({"Authorization": "Bearer 5.not-a-token"}, "this needs an API key (wk_…); the token sent is not one"),
])
async def test_unauthorized_says_why(api, headers, message):
    status, body = await api.call("GET", "/api/v1/alerts", None, headers=headers)
    assert status == 401
    assert body["error"] == message


async def test_unknown_subscriber_token_is_named(api):
    status, body = await api.call("GET", "/api/v1/inbox", None, headers={"Authorization": "Bearer 5.made-up"})
    assert status == 401
    assert body["error"] == "the subscriber token is unknown or revoked"
