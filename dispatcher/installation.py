"""Secrets generated once per installation and kept in the data dir (0600), for settings the
operator leaves unset. No secret of warncast has a default that works anywhere else."""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from .settings import Settings
from .store import private_dir

log = logging.getLogger(__name__)

#: Where generated secrets live, under the data dir.
SECRETS_DIR = "secrets"
SMS_CALLBACK_SECRET = "sms-callback-secret"


def installation_secret(data_dir: Path, name: str) -> tuple[str, Path, bool]:
    """(value, file, created now): the secret ``name`` of this installation, made on first use.
    Two processes starting at once agree on one value (the file is linked into place atomically)."""
    folder = private_dir(Path(data_dir) / SECRETS_DIR)
    path = folder / name
    if not path.exists():
        tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)
            created = True
        except FileExistsError:
            created = False
        finally:
            os.unlink(tmp)
    else:
        created = False
    value = path.read_text().strip()
    if not value:
        raise RuntimeError(f"{path} is empty; delete it to have a new secret generated")
    return value, path, created


def sms_callbacks_on(settings: Settings) -> bool:
    """Whether the SMS gateway posts delivery reports to us (the HTTP transport of the SMS channel)."""
    return "sms" in settings.channels and settings.sms_transport == "http"


def sms_callback_secret(settings: Settings) -> str:
    """WARNCAST_SMS_CALLBACK_SECRET, or this installation's generated one; says which at start-up
    (never the value)."""
    from channels.sms import SmsSettings

    configured = SmsSettings.from_env().callback_secret
    if configured:
        log.info("SMS delivery reports are checked with WARNCAST_SMS_CALLBACK_SECRET")
        return configured
    value, path, created = installation_secret(settings.data_dir, SMS_CALLBACK_SECRET)
    log.warning("WARNCAST_SMS_CALLBACK_SECRET is not set: SMS delivery reports are checked with the secret %s "
                "%s; configure the gateway to sign with it (or set WARNCAST_SMS_CALLBACK_SECRET on every API "
                "process)", "generated now in" if created else "generated for this installation in", path)
    return value
