"""Start the provider simulators together and tell the adapters where they are.

    python -m loadtest.simulators.run      # or: warncast simulate

Each simulator listens on loopback; ``SimulatorSet.env()`` gives the settings
(WARNCAST_*_URL, ports, credentials files) that point warncast's adapters at them.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from .apns import ApnsSimulator, load_dev_team_key
from .base import Faults, Ledger
from .fcm import FcmSimulator, load_dev_service_account
from .hms import HmsSimulator
from .smpp import SmppSimulator
from .sms import SmsGatewaySimulator
from .webpush import WebPushSimulator

DEFAULT_PORTS = {"hms": 9101, "fcm": 9102, "apns": 9103, "webpush": 9104, "sms": 9201, "smpp": 2775}
ALL = tuple(DEFAULT_PORTS)


@dataclass
class SimulatorSet:
    names: tuple[str, ...] = ALL
    faults: dict[str, Faults] = field(default_factory=dict)
    credentials_dir: str = "var/simulators"
    sims: dict[str, object] = field(default_factory=dict)

    async def start(self, ports: dict[str, int] | None = None, host: str = "127.0.0.1") -> "SimulatorSet":
        """Start each simulator (port 0 = any free port) on ``host``."""
        ports = ports if ports is not None else DEFAULT_PORTS
        for name in self.names:
            f = self.faults.get(name)
            if name == "hms":
                sim = HmsSimulator(f)
            elif name == "fcm":
                sim = FcmSimulator(f, service_account=load_dev_service_account(self.credentials_dir))
            elif name == "apns":
                sim = ApnsSimulator(f, team_key=load_dev_team_key(self.credentials_dir))
            elif name == "webpush":
                sim = WebPushSimulator(f)
            elif name == "sms":
                sim = SmsGatewaySimulator(f)
            elif name == "smpp":
                sim = SmppSimulator(f)
            else:
                raise ValueError(f"no simulator {name!r}")
            await sim.start(host, ports.get(name, 0))
            self.sims[name] = sim
        return self

    async def stop(self) -> None:
        for sim in self.sims.values():
            await sim.stop()

    def ledger(self, name: str) -> Ledger:
        return self.sims[name].ledger

    def env(self) -> dict[str, str]:
        """Settings that point the adapters at these simulators."""
        # they listen on loopback, which adapters may reach only when told so
        env: dict[str, str] = {"WARNCAST_ALLOW_PRIVATE_NETWORKS": "1"}
        for name, sim in self.sims.items():
            if name == "smpp":
                env["WARNCAST_SMPP_HOST"], env["WARNCAST_SMPP_PORT"] = "127.0.0.1", str(sim.port)
            elif name == "fcm":
                env["WARNCAST_FCM_URL"] = sim.url
                env["WARNCAST_FCM_TOKEN_URL"] = sim.token_uri
                env["WARNCAST_FCM_SERVICE_ACCOUNT_FILE"] = os.path.join(self.credentials_dir, "fcm-service-account.json")
            elif name == "apns":
                env["WARNCAST_APNS_URL"] = sim.url
                env["WARNCAST_APNS_PRIVATE_KEY_FILE"] = os.path.join(self.credentials_dir, "apns-dev-key.p8")
            elif name != "webpush":          # Web Push endpoints live in each subscription
                env[f"WARNCAST_{name.upper()}_URL"] = sim.url
            if name == "sms":
                env["WARNCAST_SMS_CALLBACK_SECRET"] = sim.callback_secret
        return env


def ports_from(base: int | None) -> dict[str, int]:
    """Each simulator's port: the defaults, or ``base`` and the ports after it in ALL's order (0 = any free)."""
    if base is None:
        return dict(DEFAULT_PORTS)
    return {name: (base + i if base else 0) for i, name in enumerate(ALL)}


def exports(sims: SimulatorSet) -> list[str]:
    """The shell lines that point warncast at these simulators, WARNCAST_CHANNELS included."""
    env = sims.env()
    channels = [n for n in sims.sims if n != "smpp"] + (["sms"] if "smpp" in sims.sims and "sms" not in sims.sims
                                                        else [])
    env["WARNCAST_CHANNELS"] = ",".join(channels)
    if "smpp" in sims.sims and "sms" not in sims.sims:
        env["WARNCAST_SMS_TRANSPORT"] = "smpp"
    return [f"export {k}={v}" for k, v in sorted(env.items())]


async def serve_forever(names: tuple[str, ...] = ALL, host: str = "127.0.0.1", base: int | None = None) -> int:
    """Run until SIGINT or SIGTERM, then stop every simulator; returns the exit code (0)."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sims = SimulatorSet(names)
    try:
        await sims.start(ports_from(base), host)
        for line in exports(sims):
            print(line)
        print("# simulators running; Ctrl-C stops them", flush=True)
        await stop.wait()
    finally:
        await sims.stop()
    print("# simulators stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(serve_forever()))
