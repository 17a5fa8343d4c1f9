"""API load test: Redis, N API processes and locust, all on loopback, bounded in time; a table at the end.

    python -m loadtest.run_locust [--users 50] [--run-time 30s] [--api-processes 1]
                                  [--subscribers 20000] [--spawn-rate 10] [--think 1.0] [--out DIR]

What it does, in order:

1. starts an embedded Redis in a temporary directory (reached through its unix socket);
2. seeds ``--subscribers`` synthetic in-app subscribers over Beijing and creates an issuer key;
3. starts ``--api-processes`` ``warncast serve --port P`` processes on 127.0.0.1, each with
   ``REDIS_URL=unix://…`` pointing at that Redis and its output in ``OUT/serve-P.log``;
4. runs ``locust -f loadtest/locustfile.py --headless`` as its own process for ``--run-time``;
   each simulated user is pinned to one API process, round-robin (``WARNCAST_LOCUST_HOSTS``);
5. prints processes, users, requests per second, p50/p99 per endpoint and failures, read from
   locust's CSV statistics (kept in ``OUT``), plus any error the API processes logged;
6. stops locust, the API processes and Redis, and removes the temporary directory.

Exit status: 0 when no request failed and no API process logged an error, else 1.

Locust is the ``load`` extra (``pip install 'warncast[load]'``). Its import patches the standard
library with gevent, so it runs only as a subprocess here, never inside this process.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
#: Endpoint groups in the order the table shows them (locust's request names).
ORDER = ("/api/v1/alerts", "/api/v1/alerts/{id}", "/api/v1/subscribers", "/api/v1/subscribers/{id}",
         "/api/v1/inbox", "/api/v1/receipts")
#: Lines in an API process's log that mean something went wrong on the server side.
SERVER_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b")

console = Console(width=max(120, Console().width))


def parse_duration(text: str) -> float:
    """Seconds in a locust duration such as 30s, 2m, 1m30s or 45."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+)\s*([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 2m, 1m30s)")
    return float(sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tool(name: str) -> list[str]:
    """The console script installed next to this interpreter (the virtualenv's), else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    if found:
        return [found]
    if name == "warncast":
        return [sys.executable, "-m", "dispatcher.cli"]
    raise SystemExit(f"{name} is not installed: pip install 'warncast[load]'")


async def prepare(url: str, subscribers: int, shard_size: int) -> str:
    """Seed the synthetic subscribers and return a new issuer key scoped to Beijing (11)."""
    from dispatcher.auth import KeyStore
    from dispatcher.store import Store
    from subscribers import synth
    from subscribers.store import SubscriberStore

    redis = Store(url=url).aio()
    try:
        subs = SubscriberStore(redis, shard_size)
        step = 20_000
        for i in range(0, subscribers, step):
            await subs.write_many(synth.generate(min(step, subscribers - i), seed=i))
        return await KeyStore(redis).create("loadtest-issuer", "issuer", ["11"])
    finally:
        await redis.aclose()


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API process on {base} exited with {proc.returncode}; see {log}:\n"
                               + log.read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"API process on {base} not ready after {timeout:.0f} s; see {log}")


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGINT (what Ctrl-C sends, so the API closes cleanly), then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_stats(prefix: Path) -> tuple[list[dict], dict | None, list[dict]]:
    """(rows per endpoint, the aggregated row, failures) from locust's CSV files."""
    rows, total = [], None
    with open(f"{prefix}_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                total = row
            else:
                rows.append(row)
    rank = {name: i for i, name in enumerate(ORDER)}
    rows.sort(key=lambda r: (rank.get(r["Name"], len(ORDER)), r["Name"], r["Type"]))
    failures = []
    path = Path(f"{prefix}_failures.csv")
    if path.exists():
        with open(path, newline="") as f:
            failures = list(csv.DictReader(f))
    return rows, total, failures


def server_error_lines(text: str) -> list[str]:
    """Each logged error line, and the exception line that ends each traceback after it."""
    out, in_traceback = [], False
    for line in text.splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace() and not line.startswith("During handling"):
            out.append(line)
            in_traceback = False
        elif SERVER_ERROR.search(line):
            out.append(line)
    return out


def _ms(value: str) -> str:
    return "—" if value in ("", "N/A") else f"{float(value):.0f}"


def report(args, rows: list[dict], total: dict | None, failures: list[dict], server_errors: list[str],
           command: list[str]) -> Table:
    table = Table(title=f"{args.api_processes} API process(es) · {args.users} users · {args.run_time} · "
                        f"{args.subscribers:,} seeded subscribers")
    for col in ("endpoint", "requests", "req/s", "p50 ms", "p99 ms", "failures"):
        table.add_column(col, justify="left" if col == "endpoint" else "right")
    for r in rows:
        table.add_row(f"{r['Type']} {r['Name']}", f"{int(r['Request Count']):,}", f"{float(r['Requests/s']):.1f}",
                      _ms(r["50%"]), _ms(r["99%"]), r["Failure Count"])
    if total:
        table.add_row("[b]total", f"[b]{int(total['Request Count']):,}", f"[b]{float(total['Requests/s']):.1f}",
                      f"[b]{_ms(total['50%'])}", f"[b]{_ms(total['99%'])}", f"[b]{total['Failure Count']}")
    console.print(table)
    for f in failures:
        console.print(f"[red]failure[/] {f['Method']} {f['Name']} ×{f['Occurrences']}: {f['Error'][:300]}")
    for line in server_errors[:50]:
        console.print(f"[red]server[/] {line}")
    console.print(f"locust: {shlex.join(command)}")
    console.print(f"CSV statistics and API logs: {args.out}")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.run_locust", description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=50, help="Simulated users (locust -u).")
    p.add_argument("--spawn-rate", type=float, default=None, help="Users started per second (default users/5).")
    p.add_argument("--run-time", default="30s", help="How long locust runs, e.g. 30s or 2m.")
    p.add_argument("--api-processes", type=int, default=1, help="`warncast serve` processes, one port each.")
    p.add_argument("--subscribers", type=int, default=20_000, help="Synthetic subscribers seeded first.")
    p.add_argument("--think", type=float, default=1.0,
                   help="Mean think time (s) of subscriber and device users (0: back to back); "
                        "issuers wait 2-6 s whatever this is.")
    p.add_argument("--out", type=Path, default=None,
                   help="Where locust's CSV files and the API logs go (default var/loadtest/<time>).")
    args = p.parse_args(argv)
    seconds = parse_duration(args.run_time)
    if args.users < 1 or args.api_processes < 1 or args.subscribers < 0:
        p.error("--users and --api-processes must be at least 1, --subscribers not negative")
    spawn_rate = args.spawn_rate or max(1.0, args.users / 5)
    args.out = (args.out or Path("var/loadtest") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    from dispatcher.settings import Settings
    from dispatcher.store import start_embedded

    shard_size = Settings.from_env().shard_size
    tmp = Path(tempfile.mkdtemp(prefix="warncast-locust-"))
    store = None
    servers: list[tuple[subprocess.Popen, object]] = []
    locust: subprocess.Popen | None = None
    command: list[str] = []
    try:
        store = start_embedded(tmp / "redis")
        console.print(f"redis: {store.url}")
        t0 = time.perf_counter()
        issuer_key = asyncio.run(prepare(store.url, args.subscribers, shard_size))
        console.print(f"seeded {args.subscribers:,} subscribers in {time.perf_counter() - t0:.1f} s")

        env = {k: v for k, v in os.environ.items() if not k.startswith("WARNCAST_LOCUST_")}
        env.update(REDIS_URL=store.url, WARNCAST_HOST="127.0.0.1", PYTHONUNBUFFERED="1")
        hosts = []
        for port in free_ports(args.api_processes):
            log_path = args.out / f"serve-{port}.log"
            log = open(log_path, "wb")
            proc = subprocess.Popen(tool("warncast") + ["serve", "--port", str(port)], env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            servers.append((proc, log))
            hosts.append(f"http://127.0.0.1:{port}")
        for (proc, log), base in zip(servers, hosts):
            wait_ready(base, proc, Path(log.name))
        console.print(f"API processes: {', '.join(hosts)}")

        prefix = args.out / "locust"
        command = tool("locust") + [
            "-f", str(LOCUSTFILE), "--headless", "-u", str(args.users), "-r", f"{spawn_rate:g}",
            "--run-time", args.run_time, "--stop-timeout", "5", "--csv", str(prefix),
            "--host", hosts[0], "--only-summary", "--loglevel", "WARNING"]
        locust_env = {**env, "WARNCAST_LOCUST_ISSUER_KEY": issuer_key, "WARNCAST_LOCUST_HOSTS": ",".join(hosts),
                      "WARNCAST_LOCUST_THINK": f"{args.think:g}"}
        console.print(f"running locust for {args.run_time} …")
        with open(args.out / "locust.log", "wb") as llog:
            locust = subprocess.Popen(command, env=locust_env, stdout=llog, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
            try:
                locust.wait(seconds + 60)
            except subprocess.TimeoutExpired:
                console.print("[red]locust did not stop in time; killing it")
                stop(locust, 5)
                return 1
        if not Path(f"{prefix}_stats.csv").exists():
            console.print(f"[red]locust wrote no statistics (exit {locust.returncode}); see {args.out / 'locust.log'}")
            console.print((args.out / "locust.log").read_text(errors="replace")[-3000:])
            return 1
    finally:
        if locust is not None:
            stop(locust, 5)
        for proc, log in servers:
            stop(proc)
            log.close()
        if store is not None:
            store.close()
        shutil.rmtree(tmp, ignore_errors=True)

    server_errors = []
    for path in sorted(args.out.glob("serve-*.log")):
        server_errors += [f"{path.name}: {line}" for line in server_error_lines(path.read_text(errors="replace"))]
    rows, total, failures = read_stats(prefix)
    report(args, rows, total, failures, server_errors, command)
    failed = int(total["Failure Count"]) if total else 0
    return 0 if failed == 0 and not server_errors else 1


if __name__ == "__main__":
    sys.exit(main())
