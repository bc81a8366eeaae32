"""`make bench`: Portal against a bare baseline on the same stack, A B A B.

Seeds a database (100k members, 1M ledger entries by default; a seeded SQLite
file is kept under bench/out/ and copied fresh for every run), starts Portal
(`gunicorn -w 2 app:app`) and the bare app (bench/bare.py) on free loopback
ports, and for each scenario runs `wrk -t1 -c16 --latency` against Portal, then
against bare, `--pairs` times. Each pair gives a ratio Portal/bare of requests
per second; the scenario is judged by the median ratio, since this machine's
speed drifts by up to 2x between runs. Prints one table and appends it, with
the date, machine and settings, to bench/RESULTS.md (unless --no-record).

    .venv/bin/python bench/run.py               # the full run (TESTING.md volume)
    .venv/bin/python bench/run.py --quick       # 10k members, 100k entries, 2 pairs of 2 s
    .venv/bin/python bench/run.py --only read   # scenarios whose name contains "read"
    .venv/bin/python bench/run.py --database-url postgresql+psycopg://postgres@127.0.0.1:54329/portal_bench

Everything listens on 127.0.0.1 only; every wrk run is bounded in time, and the
servers are stopped (whole process groups) on exit.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

PAGES = 50          # pages drawn at random for the 20-row page scenarios (the first 1,000 members)
RANGE_DAYS = 30
WRK_TIMEOUT_S = 30  # a slow report request counts as slow, not as a socket timeout
REQUESTS_PER_RUN = 8  # a run lasts at least this many times one request (up to MAX_DURATION_S)
MAX_DURATION_S = 30


# --- scenarios ---------------------------------------------------------------------------------------------------

@dataclass
class Side:
    """One side of a scenario: a Lua request() body for wrk and a check for one sample response."""

    method: str
    path: str                 # Lua expression for the path
    body: str | None = None   # Lua expression for the body
    expect: int = 200
    check: object = None      # fn(json) -> str | None (a complaint)
    headers: dict | None = None  # instead of the side's usual headers (the portal page sends a session cookie)


@dataclass
class Scenario:
    name: str
    portal: Side | None
    bare: Side
    note: str = ""
    # The writes Portal's promises require, done by hand on the bare server (bench/floor.py): floor/bare is the
    # best ratio any implementation of those promises could reach, Portal/floor what our code adds to them.
    floor: Side | None = None
    duration: float = 0.0
    alone: dict = field(default_factory=dict)  # label -> seconds for one request with nothing else running
    results: dict = field(default_factory=lambda: {"portal": [], "floor": [], "bare": []})


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for these characters


def scenarios(info: dict, args) -> list[Scenario]:
    org, ledger_id, account = info["organizationId"], info["ledgerId"], info["accountId"]
    api = f"/api/v1/organizations/{org}"
    first_member, last_member = info["firstMemberId"], info["lastMemberId"]
    members_count = last_member - first_member + 1
    seeded = dt.datetime.fromisoformat(info["seededAt"])
    iso = lambda moment: moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    month_from, month_to = iso(seeded - dt.timedelta(days=RANGE_DAYS)), iso(seeded)
    year_from, year_to = iso(seeded - dt.timedelta(days=366)), iso(seeded + dt.timedelta(days=1))
    member = f"math.random({first_member}, {last_member})"
    batch = (f"batch({args.batch_items}, {ledger_id}, {account}, "
             f"{info['firstWalletId']}, {info['lastWalletId']})")
    mint_body = 'string.format(\'{"amount":10,"systemUniqueKey":"bench-%s-%d","description":"bench"}\', RUN, counter)'

    def member_is(data):
        return None if data.get("member", {}).get("id") else f"no member in {str(data)[:200]}"

    def has_rows(key, n=None):
        def check(data):
            rows = data.get(key)
            if not isinstance(rows, list) or not rows or (n is not None and len(rows) != n):
                return f"expected {n or 'some'} {key}, got {str(data)[:200]}"
            return None
        return check

    def earned(data):
        awarded = data.get("evaluationResults", {}).get("pointsAwarded")
        return None if awarded == 25 * info["matchingCampaigns"] else f"expected {25 * info['matchingCampaigns']} " \
            f"points from {info['matchingCampaigns']} matching campaigns, got {str(data)[:300]}"

    def used(data):
        return None if data.get("couponUsages") else f"no coupon usage in {str(data)[:300]}"

    def balanced(data):
        rows = data.get("balances")
        return None if rows and rows[0].get("ledgerAccountId") == account else f"no balances in {str(data)[:200]}"

    purchase_body = ('string.format(\'{"externalId":"bench-%s-%d","status":"confirmed","total":25.0,'
                     '"items":[{"sku":"BENCH-1","quantity":1,"unitPrice":25.0}]}\', RUN, counter)')
    use_body = (f'string.format(\'{{"memberId":%d,"code":"BC%07d","systemUniqueKey":"bench-use-%s-%d"}}\', '
                f'{member}, WINDOW + counter, RUN, counter)')
    portal_member = info["portalMemberId"]

    def batch_ok(data):
        if data.get("failed") or len(data.get("processed", [])) != args.batch_items:
            return f"batch did not process every item: {str(data)[:300]}"
        return None

    return [
        Scenario("tiny JSON", Side("GET", lua_string("/healthz")), Side("GET", lua_string("/tiny")),
                 note="Portal: GET /healthz (no auth, no database)"),
        Scenario("primary-key read",
                 Side("GET", f'string.format("{api}/members/%d", {member})', check=member_is),
                 Side("GET", f'string.format("/member/%d", {member})', check=lambda d: None if d.get("id") else d),
                 note="Portal: GET /members/{id} with the bearer key (auth, identifiers, tiers, serializer)"),
        Scenario("insert+update",
                 Side("POST", f'string.format("{api}/loyalty-members/BM%08d/mint", '
                              f'math.random(1, {members_count}))', mint_body, 201,
                      check=lambda d: None if d.get("transaction", {}).get("id") else d),
                 Side("POST", lua_string("/insert-update"), mint_body, 201),
                 note="Portal: POST /loyalty-members/{id}/mint with a new systemUniqueKey each time; "
                      "bare: insert a row and update a counter row in one transaction; floor: bench/floor.py",
                 floor=Side("POST", f'string.format("/floor/mint/BM%08d?account={account}", '
                                    f'math.random(1, {members_count}))', mint_body, 201)),
        Scenario("20-row page",
                 Side("GET", f'string.format("{api}/members?limit=20&order=id,asc&page=%d", '
                             f'math.random(0, {PAGES - 1}))', check=has_rows("results", 20)),
                 Side("GET", f'string.format("/page?page=%d", math.random(0, {PAGES - 1}))',
                      check=has_rows("results", 20)),
                 note=f"random page among the first {PAGES}; Portal also loads the page's identifiers and tiers, and "
                      "answers the total (counted up to 10,000 once per process: the organisation's members are "
                      "never fewer afterwards)"),
        Scenario(f"date range, {RANGE_DAYS} days, 20 rows",
                 Side("GET", f'string.format("{api}/ledgers/{ledger_id}/accounts/{account}/transactions'
                             f'?fromExternalEventDate={month_from}&toExternalEventDate={month_to}'
                             f'&limit=20&page=%d", math.random(0, 9))', check=has_rows("results", 20)),
                 Side("GET", f'string.format("/range?account={account}&from={month_from}&to={month_to}'
                             f'&page=%d", math.random(0, 9))', check=has_rows("results", 20)),
                 note="Portal: GET .../transactions?fromExternalEventDate=..&toExternalEventDate=..&limit=20 "
                      "(stands in for a report; the same range each time, so its count, up to 1,000, is taken "
                      "once per process: a best case for a report whose range changes)"),
        Scenario("points report by day, a year",
                 Side("GET", lua_string(f"{api}/stats/points?sinceFrom={year_from}&sinceTo={year_to}&interval=day"),
                      check=has_rows("results")),
                 Side("GET", lua_string(f"/groupby?account={account}&from={year_from}&to={year_to}"),
                      check=has_rows("days")),
                 note="Portal: GET /stats/points (minted, burned, expired per local day, outstanding at the end of "
                      "each, net of reverts; auth, serializer); bare: count and sum per UTC day, one GROUP BY"),
        Scenario(f"points report by day, {RANGE_DAYS} days",
                 Side("GET", lua_string(f"{api}/stats/points?sinceFrom={month_from}&sinceTo={month_to}"
                                        "&interval=day"), check=has_rows("results")),
                 Side("GET", lua_string(f"/groupby?account={account}&from={month_from}&to={month_to}"),
                      check=has_rows("days")),
                 note="the same over the last 30 days"),
        Scenario(f"purchase, {info['campaigns']} campaigns",
                 Side("POST", f'string.format("{api}/members/%d/purchase-orders", {member})', purchase_body, 201,
                      check=earned),
                 Side("POST", lua_string("/insert-update"), mint_body, 201),
                 floor=Side("POST", f'string.format("/floor/purchase/%d?program={info["programId"]}", {member})',
                            purchase_body, 201, check=earned),
                 note=f"Portal: POST /members/{{id}}/purchase-orders, a confirmed order of 25.00 with a new externalId "
                      f"each time, evaluated against {info['campaigns']} active campaigns of which "
                      f"{info['matchingCampaigns']} match (each awards 1 point per unit); bare: the insert+update "
                      "transaction (the target compares with it)"),
        Scenario("coupon code use",
                 Side("POST", lua_string(f"{api}/coupon-books/{info['promoBookId']}/use"), use_body, 201,
                      check=used),
                 Side("POST", lua_string("/coupon-use"), use_body, 201),
                 floor=Side("POST", lua_string(f"/floor/coupon-use?book={info['promoBookId']}"), use_body, 201),
                 note="Portal: POST /coupon-books/{book}/use naming a fresh single-use code of the pool for a random "
                      "member (assign and use, book and code counters, usage rows, idempotency, audit); bare: a "
                      "conditional UPDATE of the code's row and a usage row in one transaction"),
        Scenario("member balance",
                 Side("GET", f'string.format("{api}/members/%d/wallet", {member})', check=balanced),
                 Side("GET", f'string.format("/member/%d", {member})', check=lambda d: None if d.get("id") else d),
                 note="Portal: GET /members/{id}/wallet (auth, the member, then the accounts with the member's "
                      "wallets and the default programme in one query); bare: the primary-key read"),
        Scenario("portal wallet page",
                 Side("GET", lua_string("/wallet"), headers=info.get("portalHeaders")),
                 Side("GET", lua_string(f"/wallet-page?member={portal_member}")),
                 note="Portal: GET /wallet signed in as a member with more than 20 movements (session, balances, "
                      "tier progress, expiring points, 20 history rows with running balance, the whole page); "
                      "bare: a Jinja page with the member's balance and 20 newest ledger rows"),
        Scenario(f"bulk insert ({args.batch_items} items)",
                 Side("POST", lua_string(f"{api}/ledger-transactions/batch"), batch, 200, check=batch_ok),
                 Side("POST", lua_string("/bulk"), batch, 200),
                 floor=Side("POST", lua_string("/floor/batch"), batch, 200, check=batch_ok),
                 note=f"Portal: POST /ledger-transactions/batch with {args.batch_items} mints to random wallets; "
                      f"bare: the same body, {3 * args.batch_items} rows inserted with executemany"),
    ]


LUA = r"""
RUN = %(run)s
WINDOW = %(window)d
counter = 0
math.randomseed(%(seed)d)
local headers = %(headers)s

function batch(n, ledger, account, first_wallet, last_wallet)
  local items = {}
  for i = 1, n do
    items[i] = string.format('{"amount":5,"ledgerId":%%d,"ledgerAccountId":%%d,"toWalletId":%%d}',
                             ledger, account, math.random(first_wallet, last_wallet))
  end
  return '{"items":[' .. table.concat(items, ",") .. ']}'
end

request = function()
  counter = counter + 1
  return wrk.format(%(method)s, %(path)s, headers, %(body)s)
end
"""


def lua_script(side: Side, headers: dict[str, str], seed: int, run_id: str, window: int = 0) -> str:
    """`window`: the first promo code this script may use (each run its own, so no code is used twice)."""
    table = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()) + "}"
    return LUA % {"run": lua_string(run_id), "seed": seed, "window": window, "headers": table,
                  "method": lua_string(side.method), "path": side.path, "body": side.body or "nil"}


# --- wrk ---------------------------------------------------------------------------------------------------------

@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int     # non-2xx/3xx responses and socket errors


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> Run:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        return float(match.group(1)) * UNITS[match.group(2)] if match else float("nan")

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    if rps is None:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    return Run(rps=float(rps.group(1)), p50_ms=latency("50"), p99_ms=latency("99"),
               requests=int(total.group(1)) if total else 0, errors=errors)


def wrk(url: str, script: Path, args, duration: float) -> Run:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "--latency",
               f"--timeout={WRK_TIMEOUT_S}s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + WRK_TIMEOUT_S + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- servers -----------------------------------------------------------------------------------------------------

def settle(base: str, path: str, workers: int) -> None:
    """Wait until the server has worked off what wrk left queued when it stopped.

    Sync workers still answer the requests wrk sent before it closed its
    connections; a slow scenario would otherwise steal time (and the SQLite lock)
    from the next run. One probe per worker, sent together, queue behind that
    backlog; when all are answered, every worker has finished its share.
    """
    def probe():
        try:
            with urllib.request.urlopen(base + path, timeout=600) as response:
                response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass

    threads = [threading.Thread(target=probe) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """The two gunicorn process groups; stop() ends both whatever happened."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, app: str, env: dict, workers: int, extra: list[str] = ()) -> str:
        port = free_port()
        log = OUT / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        gunicorn = Path(sys.executable).parent / "gunicorn"
        command = [str(gunicorn), "--workers", str(workers), "--worker-class", "sync", "--bind",
                   f"127.0.0.1:{port}", "--timeout", "120", *self.no_control_socket(gunicorn), *extra, app]
        handle = log.open("w")
        proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc, log))
        return f"http://127.0.0.1:{port}"

    @staticmethod
    def no_control_socket(gunicorn: Path) -> list[str]:
        """gunicorn 24+ opens a control socket at one fixed path; two masters would share it."""
        help_text = subprocess.run([str(gunicorn), "--help"], capture_output=True, text=True).stdout
        return ["--no-control-socket"] if "--no-control-socket" in help_text else []

    def wait(self, url: str, path: str, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc_name, proc, log in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc_name} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + path, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise RuntimeError(f"{name} did not answer {path} within {timeout:g} s")

    def stop(self) -> None:
        for _name, proc, _log in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _name, proc, _log in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        self.procs.clear()


CAPTURE_LUA = r"""
local render = request
request = function()
  local raw = render()
  local f = io.open(%(path)s .. ".part", "wb")
  f:write(raw)
  f:close()
  os.rename(%(path)s .. ".part", %(path)s)
  return raw
end
"""


def first_request(script_text: str, scratch: Path) -> bytes:
    """The raw HTTP request the scenario's script sends first, rendered by wrk's own Lua.

    wrk talks to a socket that listens but never reads, so the request reaches no server.
    """
    captured = scratch / "request.bin"
    captured.unlink(missing_ok=True)
    script = scratch / "capture.lua"
    script.write_text(script_text + CAPTURE_LUA % {"path": lua_string(str(captured))})
    with socket.socket() as sink:
        sink.bind(("127.0.0.1", 0))
        sink.listen(4)
        url = f"http://127.0.0.1:{sink.getsockname()[1]}"
        proc = subprocess.Popen(["wrk", "-t1", "-c1", "-d10s", "-s", str(script), url],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline and not captured.exists():
                time.sleep(0.01)
        finally:
            proc.kill()
            proc.wait()
    if not captured.exists():
        raise RuntimeError("wrk did not render a request from the scenario's script")
    return captured.read_bytes()


def sample(base: str, side: Side, script_text: str, scratch: Path, name: str) -> float:
    """Send the scenario's first request alone and check it: the right status and a plausible body, or the
    numbers would measure error pages. Returns how long it took (seconds), with nothing else running."""
    raw = first_request(script_text, scratch)
    host, port = base.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=WRK_TIMEOUT_S * 4) as conn:
        started = time.perf_counter()
        conn.sendall(raw)
        chunks = []
        while chunk := conn.recv(65536):  # sync workers close the connection after the response
            chunks.append(chunk)
        elapsed = time.perf_counter() - started
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    if status != side.expect:
        raise RuntimeError(f"{name}: {side.method} answered {status}, expected {side.expect}: {payload[:500]!r}")
    if side.check is not None:
        complaint = side.check(json.loads(payload))
        if complaint:
            raise RuntimeError(f"{name}: {complaint}")
    return elapsed


# --- the machine and the record ----------------------------------------------------------------------------------

def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        ram = "RAM unknown"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpus} CPUs (nproc), {model}, {ram}, {platform.system()} {platform.release()}"


def database_label(url: str) -> str:
    if url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL, BEGIN IMMEDIATE), file on local disk"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version} (READ COMMITTED) on loopback"


def fmt_rps(value: float) -> str:
    if value == 0:
        return "0 (none finished)"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def fmt_ms(value: float) -> str:
    if value != value:  # nan
        return "?"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(results: list[Scenario]) -> str:
    floors = any(s.results["floor"] for s in results)
    lines = ["| scenario | Portal req/s (median) | bare req/s (median) | ratio Portal/bare (median of pairs) "
             + ("| floor/bare | Portal/floor " if floors else "")
             + "| Portal p50 / p99 ms | bare p50 / p99 ms |" + (" floor p50 / p99 ms |" if floors else ""),
             "| --- | ---: | ---: | ---: | " + ("---: | ---: | " if floors else "") + "---: | ---: |"
             + (" ---: |" if floors else "")]
    for s in results:
        portal, floor, bare = s.results["portal"], s.results["floor"], s.results["bare"]
        if not bare:
            continue
        portal_rps = fmt_rps(statistics.median(r.rps for r in portal)) if portal else "n/a"
        columns = [ratio_of(portal, bare, spread=True)]
        if floors:
            columns += [ratio_of(floor, bare), ratio_of(portal, floor)] if floor else ["—", "—"]
        errors = sum(r.errors for r in portal + floor + bare)
        name = s.name + (f" **{errors} errors**" if errors else "")
        latencies = [latency(portal), latency(bare)] + ([latency(floor)] if floors else [])
        lines.append(f"| {name} | {portal_rps} | {fmt_rps(statistics.median(r.rps for r in bare))} | "
                     f"{' | '.join(columns)} | {' | '.join(latencies)} |")
    return "\n".join(lines)


def latency(runs: list[Run]) -> str:
    """Median p50 / median p99 over the runs, in ms; — without runs."""
    if not runs:
        return "—"
    return f"{fmt_ms(statistics.median(r.p50_ms for r in runs))} / {fmt_ms(statistics.median(r.p99_ms for r in runs))}"


def ratio_of(runs: list[Run], against: list[Run], spread: bool = False) -> str:
    """The median of the pair-wise req/s ratios (with their range); n/a without runs."""
    ratios = [a.rps / b.rps for a, b in zip(runs, against) if b.rps]
    if not ratios:
        return "n/a" if not runs else "?"
    median = fmt_ratio(statistics.median(ratios))
    return f"{median} ({fmt_ratio(min(ratios))}–{fmt_ratio(max(ratios))})" if spread else median


def longer(scenario: Scenario, args) -> str:
    return f"; runs of {scenario.duration:g} s (slow requests)" if scenario.duration > args.duration else ""


def alone(scenario: Scenario) -> str:
    """One request with the server otherwise idle: what a single user waits, without queueing."""
    parts = [f"{label} {fmt_ms(seconds * 1000)} ms" for label, seconds in scenario.alone.items()]
    return f"; one request alone: {', '.join(parts)}" if parts else ""


def record(text: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `make bench` (bench/run.py); newest last. "
                           "See bench/README.md for what each scenario does.\n")
    with RESULTS.open("a") as handle:
        handle.write("\n" + text.rstrip() + "\n")


# --- main --------------------------------------------------------------------------------------------------------

def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing it with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"], check=False, env=env,
                       timeout=600)
    if not shutil.which("wrk"):
        print("wrk is not installed. Install it with:  sudo apt-get install wrk", file=sys.stderr)
        raise SystemExit(2)


def seeded_database(args, database_url: str | None) -> tuple[str, dict]:
    """A fresh database: a copy of the kept seed file when its parameters match, else a new seed."""
    import seed

    if database_url:
        return database_url, postgres_copy_of_seed(args, database_url)
    OUT.mkdir(parents=True, exist_ok=True)
    pristine = OUT / f"seed-{args.members}-{args.entries}.db"
    meta = pristine.with_suffix(".json")
    wanted = seed.params_of(args.members, args.entries)
    info = json.loads(meta.read_text()) if meta.exists() and pristine.exists() and not args.reseed else None
    if info is None or any(info.get(k) != v for k, v in wanted.items()):
        print(f"seeding {pristine.name} ...", file=sys.stderr)
        info = seed.seed(f"sqlite:///{pristine}", members_count=args.members, entries=args.entries)
        seed.write_info(info, meta)
    else:
        print(f"reusing {pristine.name} (seeded {info['seededAt']}, same parameters and schema)", file=sys.stderr)
    working = OUT / "run.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{working}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, working)
    return f"sqlite:///{working}", info


def postgres_copy_of_seed(args, database_url: str) -> dict:
    """Like the SQLite seed file: the seed is kept as a template database (`<name>_seed`, next to the kept
    facts in bench/out/) while its parameters and schema match, and every run gets a fresh copy of it
    (CREATE DATABASE ... TEMPLATE: seconds, where seeding 1M entries takes minutes)."""
    import seed
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    target, template = url.database, f"{url.database}_seed"
    if "bench" not in (target or ""):
        raise SystemExit(f"{target}: the bench drops and copies its database; its name must contain 'bench'")
    meta = OUT / f"pg-{template}-{args.members}-{args.entries}.json"
    wanted = seed.params_of(args.members, args.entries)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template}).first()
        info = json.loads(meta.read_text()) if meta.exists() and exists and not args.reseed else None
        if info is None or any(info.get(k) != v for k, v in wanted.items()):
            print(f"seeding the template database {template} ...", file=sys.stderr)
            with admin.connect() as conn:
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{template}"'))
            info = seed.seed(url.set(database=template).render_as_string(hide_password=False),
                             members_count=args.members, entries=args.entries)
            OUT.mkdir(parents=True, exist_ok=True)
            seed.write_info(info, meta)
        else:
            print(f"copying the template database {template} (seeded {info['seededAt']})", file=sys.stderr)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
    return info


class ThrowawayPostgres:
    """A PostgreSQL cluster of the bench's own (scripts/test-pg.sh on another port and directory), stopped after."""

    def __init__(self, port: int = 54339, directory: str = "/tmp/portal-bench-pg") -> None:
        self.env = {**os.environ, "PGPORT_TEST": str(port), "PGDATA_DIR": directory, "SQLITE_ONLY": ""}
        self.env.pop("TEST_PG_URL", None)

    def start(self) -> str:
        done = subprocess.run([str(ROOT / "scripts" / "test-pg.sh")], env=self.env, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0 or not done.stdout.strip():
            raise RuntimeError(f"could not start a throwaway PostgreSQL: {done.stderr.strip()}")
        from sqlalchemy import create_engine, text

        server = done.stdout.strip()
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS portal_bench WITH (FORCE)"))
                conn.execute(text("CREATE DATABASE portal_bench"))
        finally:
            admin.dispose()
        return server.rsplit("/", 1)[0] + "/portal_bench"

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "stop-test-pg.sh")], env=self.env, timeout=120, check=False)


USER_AGENT = "portal-bench"  # the member's session is bound to the address and user agent (session protection)


def portal_login(base: str, info: dict) -> dict[str, str]:
    """Sign the seeded member in to the member portal as a browser would; the headers that carry the session."""
    import http.cookiejar
    import urllib.parse

    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(base + "/login", timeout=60) as response:
        form = response.read().decode()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("no CSRF token on the portal's login page")
    data = urllib.parse.urlencode({"csrf_token": token.group(1), "email": info["portalEmail"],
                                   "password": info["portalPassword"]}).encode()
    try:
        opener.open(base + "/login", data=data, timeout=60)
        raise RuntimeError("the portal login did not redirect: wrong password or a form error")
    except urllib.error.HTTPError as answer:
        if answer.code != 302 or not answer.headers.get("Location", "").endswith("/wallet"):
            raise RuntimeError(f"the portal login answered {answer.code} {answer.headers.get('Location')}") from None
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return {"Cookie": cookie, "User-Agent": USER_AGENT}


def single_use_race(url: str, body_of, headers: dict[str, str], parties: int = 16) -> dict[int, int]:
    """`parties` requests to use one single-use code, released together: {status: how many}."""
    barrier = threading.Barrier(parties)
    statuses: list[int] = []

    def one(n: int) -> None:
        request = urllib.request.Request(url, data=json.dumps(body_of(n)).encode(), method="POST",
                                         headers={**headers, "Content-Type": "application/json"})
        barrier.wait(timeout=60)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as answer:
            statuses.append(answer.code)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {status: statuses.count(status) for status in sorted(set(statuses))}


def race_line(label: str, counts: dict[int, int]) -> tuple[str, bool]:
    ok = counts.get(201) == 1 and sum(counts.values()) == 16 and set(counts) <= {201, 409}
    shown = ", ".join(f"{n} × {status}" for status, n in counts.items())
    return f"{label}: {shown} — {'exactly one use' if ok else '**NOT exactly one use**'}", ok


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k members, 100k entries, 2 pairs of 2 s")
    parser.add_argument("--members", type=int)
    parser.add_argument("--entries", type=int, help="ledger entries (2 per transaction)")
    parser.add_argument("--pairs", type=int)
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded load per side and scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-items", type=int, default=20, help="items per bulk request")
    parser.add_argument("--only", help="run only scenarios whose name contains this text")
    parser.add_argument("--skip", action="append", default=[],
                        help="leave out scenarios whose name contains this text (may be repeated)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite",
                        help="where to run: SQLite (a seeded file), PostgreSQL (--database-url, else BENCH_PG_URL, "
                             "else a throwaway server of the bench's own on port 54339, stopped after), or both")
    parser.add_argument("--database-url", help="a PostgreSQL database whose name contains 'bench' (reseeded); "
                                               "implies --db postgresql unless --db both")
    parser.add_argument("--reseed", action="store_true", help="seed again even when a matching file exists")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument("--note", default="", help="a line to keep with the recorded results")
    args = parser.parse_args(argv)
    quick = {"members": 10_000, "entries": 100_000, "pairs": 2, "duration": 2.0}
    full = {"members": 100_000, "entries": 1_000_000, "pairs": 5, "duration": 5.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.database_url = args.database_url or os.environ.get("BENCH_PG_URL") or None
    if args.database_url and args.db == "sqlite" and "--db" not in " ".join(argv or sys.argv[1:]):
        args.db = "postgresql"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    ensure_wrk()
    # SIGTERM (from make or a CI timeout) should still stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    status = 0
    for backend in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        if backend == "sqlite":
            status |= bench_on(args, None)
            continue
        server = None if args.database_url else ThrowawayPostgres()
        try:
            status |= bench_on(args, args.database_url or server.start())
        finally:
            if server is not None:
                server.stop()
    return status


def bench_on(args, database_url: str | None) -> int:
    """Every chosen scenario on one database (SQLite when database_url is None); 1 when a check failed."""
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    url, info = seeded_database(args, database_url)
    import bare

    bare.prepare(url, promo_codes=info["couponWindow"] * info["couponWindows"], single_code=info["singleUseCode"])
    # Portal's runs use code windows 0 .. pairs+1, the floor's the next pairs+2; profile_request.py the last.
    if 2 * (args.pairs + 2) > info["couponWindows"] - 1:
        raise SystemExit(f"--pairs {args.pairs}: the seed has promo codes for at most "
                         f"{(info['couponWindows'] - 1) // 2 - 2} pairs")
    run_id = secrets.token_hex(4)
    auth = {"Authorization": f"Bearer {info['apiKey']}", "Content-Type": "application/json"}
    plain = {"Content-Type": "application/json"}
    servers = Servers()
    scripts = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    races: list[str] = []
    failed = False
    try:
        portal_url = servers.start("portal", "app:app", {"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32),
                                                         "PORTAL_INSTANCE_DIR": str(OUT / "instance")},
                                   args.workers)
        bare_url = servers.start("bare", "bare:app", {"DATABASE_URL": url}, args.workers,
                                 ["--pythonpath", str(BENCH)])
        servers.wait(portal_url, "/healthz", "Portal")
        servers.wait(bare_url, "/tiny", "bare")
        info["portalHeaders"] = portal_login(portal_url, info)
        chosen = [s for s in scenarios(info, args) if (not args.only or args.only.lower() in s.name.lower())
                  and not any(word.lower() in s.name.lower() for word in args.skip)]
        print(f"Portal {portal_url}, bare {bare_url}; {len(chosen)} scenarios x {args.pairs} pairs x "
              f"{args.duration:g} s", file=sys.stderr)
        # 16 uses of one single-use code at once: exactly one may succeed, on either side.
        api = f"/api/v1/organizations/{info['organizationId']}"
        race_body = lambda n: {"memberId": info["firstMemberId"] + 1 + n, "code": info["singleUseCode"],  # noqa: E731
                               "systemUniqueKey": f"bench-single-{run_id}-{n}"}
        for label, target, headers in (
                ("Portal", f"{portal_url}{api}/coupon-books/{info['singleUseBookId']}/use", auth),
                ("bare", f"{bare_url}/coupon-use", plain)):
            line, ok = race_line(f"16 concurrent uses of one single-use code, {label}",
                                 single_use_race(target, race_body, headers))
            races.append(line)
            failed |= not ok
            print(line, file=sys.stderr)
        idle = {"portal": "/healthz", "floor": "/tiny", "bare": "/tiny"}
        for scenario in chosen:
            sides = [("portal", scenario.portal, portal_url, auth), ("floor", scenario.floor, bare_url, plain),
                     ("bare", scenario.bare, bare_url, plain)]
            sides = [side for side in sides if side[1] is not None]
            paths = {}
            for label, side, base, headers in sides:
                headers = side.headers or headers
                first_window = args.pairs + 2 if label == "floor" else 0  # the floor uses codes after Portal's
                for n in range(args.pairs + 1):
                    script = scripts / f"{label}-{n}.lua"
                    script.write_text(lua_script(side, headers, seed=1000 + n, run_id=f"{run_id}-{label}-{n}",
                                                 window=(first_window + n) * info["couponWindow"]))
                    paths[label, n] = script
                if args.warmup > 0:
                    wrk(base, paths[label, 0], args, args.warmup)
                    settle(base, idle[label], args.workers)
                probe = lua_script(side, headers, seed=999, run_id=f"{run_id}-{label}-sample",
                                   window=(first_window + args.pairs + 1) * info["couponWindow"])
                scenario.alone[label] = sample(base, side, probe, scripts, f"{scenario.name} ({label})")
                settle(base, idle[label], args.workers)
            slowest = max(scenario.alone.values())
            # A run should see many requests finish: slow scenarios run longer (the same for both sides).
            scenario.duration = min(MAX_DURATION_S, max(args.duration, round(REQUESTS_PER_RUN * slowest)))
            for n in range(1, args.pairs + 1):
                for label, _side, base, _headers in sides:
                    run = wrk(base, paths[label, n], args, scenario.duration)
                    settle(base, idle[label], args.workers)
                    scenario.results[label].append(run)
                    print(f"  {scenario.name:<32} {label:<6} pair {n}: {fmt_rps(run.rps):>8} req/s  "
                          f"p50 {fmt_ms(run.p50_ms)} ms  p99 {fmt_ms(run.p99_ms)} ms"
                          + (f"  {run.errors} errors" if run.errors else ""), file=sys.stderr)
    finally:
        servers.stop()
        shutil.rmtree(scripts, ignore_errors=True)

    result = table(chosen)
    print(result)
    for line in races:
        print(line)
    for scenario in chosen:
        print(f"{scenario.name}{alone(scenario)}{longer(scenario, args)}")
    if not args.no_record:
        load_after = os.getloadavg()
        mode = "quick" if args.quick else "default"
        lines = [
            f"## {started:%Y-%m-%d %H:%M} UTC — {mode} run, {'PostgreSQL' if database_url else 'SQLite'}",
            "",
            f"- Machine: {machine()}",
            f"- Load average (1 min) before / after: {load_before[0]:.1f} / {load_after[0]:.1f}",
            f"- Database: {database_label(url)}; {info['members']:,} members, {info['entries']:,} ledger entries "
            f"({info['transactions']:,} transactions)",
            f"- Servers: gunicorn {args.workers} sync workers each (Portal app:app, bench/bare.py), Python "
            f"{platform.python_version()}",
            f"- Load: wrk -t{args.threads} -c{args.connections} --latency, {args.pairs} pairs of {args.duration:g} s "
            f"(Portal then bare), {args.warmup:g} s warm-up per side",
        ]
        if args.note:
            lines.append(f"- Note: {args.note}")
        lines += [f"- {line}" for line in races]
        lines += [""] + [f"- {s.name}: {s.note}{longer(s, args)}{alone(s)}" for s in chosen]
        lines += ["", result]
        record("\n".join(lines))
        print(f"\nrecorded in {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
