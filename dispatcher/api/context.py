"""Typed keys for what the app holds."""
from __future__ import annotations

from typing import Any

from aiohttp import web

SETTINGS: web.AppKey[Any] = web.AppKey("settings")
STORE: web.AppKey[Any] = web.AppKey("store")
REDIS: web.AppKey[Any] = web.AppKey("redis")
ENGINE: web.AppKey[Any] = web.AppKey("engine")
POOL: web.AppKey[Any] = web.AppKey("pool")
KEYS: web.AppKey[Any] = web.AppKey("keys")
HUB: web.AppKey[Any] = web.AppKey("hub")
RECEIPTS: web.AppKey[Any] = web.AppKey("receipts")
SMS_SECRET: web.AppKey[Any] = web.AppKey("sms_secret")
PRIVATE: web.AppKey[Any] = web.AppKey("private")
