"""Where one request's time goes: a bench scenario's Portal request, alone, in process (Flask's test client, no
wrk, no gunicorn), timed and then profiled with cProfile; the time is grouped by the layer the code belongs to.

    .venv/bin/python bench/profile_request.py                        # every scenario, on a copy of the kept seed
    .venv/bin/python bench/profile_request.py balance wallet --top 25
    .venv/bin/python bench/profile_request.py --database-url postgresql+psycopg://.../portal_bench --info f.json

On SQLite it works on a copy of `bench/out/seed-100000-1000000.db` (run.py or seed.py makes it); the seed's
facts (API key, ids) come from the `.json` next to it, or `--info`. A PostgreSQL database must already be
seeded (it is written to: mints, purchases, coupon uses). Compare the shares, not the milliseconds: cProfile
slows Python code more than the time spent inside the database driver.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import re
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LAYERS = [  # (layer, pattern on the code's file name), first match wins
    ("database driver", r"sqlite3|psycopg|<built-in method (execute|fetch)"),
    ("SQLAlchemy", r"/sqlalchemy/"),
    ("pydantic", r"/pydantic"),
    ("templates and i18n", r"/jinja2/|/markupsafe/|/babel/|/flask_babel/|\.html"),
    ("Flask, werkzeug, login, CSRF", r"/flask/|/werkzeug/|/flask_login/|/flask_wtf/|/itsdangerous/|/flask_htmx/"),
    ("Portal's own code", r"/portal/"),
]


def member_of(info: dict):
    """n -> a seeded member's id, spread over all of them (the same member for the same n in every tool)."""
    first, last = info["firstMemberId"], info["lastMemberId"]
    return lambda n: first + (n * 7919) % (last - first + 1)


def requests_of(info: dict) -> dict:
    """scenario name -> (method, path maker, body maker, expected status); n numbers the request."""
    org, ledger_id, account = info["organizationId"], info["ledgerId"], info["accountId"]
    api = f"/api/v1/organizations/{org}"
    seeded = dt.datetime.fromisoformat(info["seededAt"])
    iso = lambda moment: moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    month_from, month_to = iso(seeded - dt.timedelta(days=30)), iso(seeded)
    run = os.urandom(4).hex()
    member = member_of(info)
    wallets = info["lastWalletId"] - info["firstWalletId"] + 1
    wallet = lambda n: info["firstWalletId"] + (n * 7919) % wallets  # noqa: E731
    window = info["couponWindow"] * (info["couponWindows"] - 1)  # the last window: run.py's runs use the others
    return {
        "tiny JSON": ("GET", lambda n: "/healthz", None, 200),
        "primary-key read": ("GET", lambda n: f"{api}/members/{member(n)}", None, 200),
        "insert+update": ("POST", lambda n: f"{api}/loyalty-members/BM{member(n):08d}/mint",
                          lambda n: {"amount": 10, "systemUniqueKey": f"prof-{run}-{n}", "description": "bench"}, 201),
        "20-row page": ("GET", lambda n: f"{api}/members?limit=20&order=id,asc&page={n % 50}", None, 200),
        "date range": ("GET", lambda n: f"{api}/ledgers/{ledger_id}/accounts/{account}/transactions"
                                        f"?fromExternalEventDate={month_from}&toExternalEventDate={month_to}"
                                        f"&limit=20&page={n % 10}", None, 200),
        "purchase": ("POST", lambda n: f"{api}/members/{member(n)}/purchase-orders",
                     lambda n: {"externalId": f"prof-{run}-{n}", "status": "confirmed", "total": 25.0,
                                "items": [{"sku": "BENCH-1", "quantity": 1, "unitPrice": 25.0}]}, 201),
        "coupon use": ("POST", lambda n: f"{api}/coupon-books/{info['promoBookId']}/use",
                       lambda n: {"memberId": member(n), "code": f"BC{window + n:07d}",
                                  "systemUniqueKey": f"prof-use-{run}-{n}"}, 201),
        "balance": ("GET", lambda n: f"{api}/members/{member(n)}/wallet", None, 200),
        "wallet page": ("GET", lambda n: "/wallet", None, 200),
        "batch": ("POST", lambda n: f"{api}/ledger-transactions/batch",
                  lambda n: {"items": [{"amount": 5, "ledgerId": ledger_id, "ledgerAccountId": account,
                                        "toWalletId": wallet(n * 20 + i)} for i in range(20)]}, 200),
    }


def layer_of(filename: str, function: str) -> str:
    where = f"{filename} {function}"
    for name, pattern in LAYERS:
        if re.search(pattern, where):
            return name
    return "Python and the rest"


def seed_arguments(doc: str | None, requests: int, requests_help: str) -> argparse.ArgumentParser:
    """The options of the in-process tools: scenario words, the database and the seed's facts."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="scenarios whose name contains one of these words")
    parser.add_argument("--database-url")
    parser.add_argument("--info", help="the seed's facts (json); default: next to the kept SQLite seed")
    parser.add_argument("--seed", default=str(OUT / "seed-100000-1000000.db"))
    parser.add_argument("--requests", type=int, default=requests, help=requests_help)
    return parser


def sign_in(client, info: dict, headers: dict) -> None:
    """The seed's portal member signs in through a test client, which keeps the session cookie."""
    form = client.get("/login", headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form).group(1)
    signed_in = client.post("/login", headers=headers, data={"csrf_token": token, "email": info["portalEmail"],
                                                             "password": info["portalPassword"]})
    assert signed_in.status_code == 302, signed_in.status_code


def open_seed(args, copy_name: str) -> tuple[dict, str]:
    """The seed's facts and the database URL, set in the environment for `app` (on SQLite a fresh copy of the
    seed named `copy_name`: the scenarios write to it)."""
    info = json.loads(Path(args.info or Path(args.seed).with_suffix(".json")).read_text())
    url = args.database_url
    if url is None:
        copy = OUT / copy_name
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(args.seed, copy)
        url = f"sqlite:///{copy}"
    os.environ.update(DATABASE_URL=url, SECRET_KEY="profile-" + "x" * 56,
                      PORTAL_INSTANCE_DIR=str(OUT / "instance"))
    return info, url


def scenario_runs(app, info: dict, only: list[str]):
    """(name, one) for each chosen scenario: `one()` sends its next Portal request through a test client signed in
    as the seed's portal member (with the API key) and checks the status; each is warmed up 5 times first."""
    client = app.test_client()
    headers = {"User-Agent": "portal-bench"}
    sign_in(client, info, headers)
    auth = {**headers, "Authorization": f"Bearer {info['apiKey']}"}
    counter = [0]
    for name, (method, path, body, status) in requests_of(info).items():
        if only and not any(word.lower() in name.lower() for word in only):
            continue

        def one(method=method, path=path, body=body, status=status, name=name):
            n = counter[0] = counter[0] + 1
            response = client.open(path(n), method=method, headers=auth, json=body(n) if body else None)
            assert response.status_code == status, (name, response.status_code, response.get_data(as_text=True))

        for _ in range(5):
            one()
        yield name, one


def main(argv=None) -> int:
    parser = seed_arguments(__doc__, 50, "timed requests, then as many profiled")
    parser.add_argument("--top", type=int, default=0, help="also print the top functions by own time")
    args = parser.parse_args(argv)
    info, _url = open_seed(args, "profile.db")
    from sqlalchemy import event

    from app import app

    engine = app.extensions["portal_db"].engine
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    for name, one in scenario_runs(app, info, args.only):
        statements[0] = 0
        started = time.perf_counter()
        for _ in range(args.requests):
            one()
        alone_ms = (time.perf_counter() - started) / args.requests * 1000
        per_request = statements[0] / args.requests
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            one()
        profile.disable()
        stats = pstats.Stats(profile)
        layers: dict[str, float] = defaultdict(float)
        for (filename, _line, function), (_cc, _nc, own, _cum, callers) in stats.stats.items():
            if filename != "~" or re.search(LAYERS[0][1], function):
                layers[layer_of(filename, function)] += own
                continue
            for (caller_file, _caller_line, caller_function), (*_, caller_own, _caller_cum) in callers.items():
                layers[layer_of(caller_file, caller_function)] += caller_own  # a built-in counts for its caller
        total = sum(layers.values())
        shares = ", ".join(f"{layer} {100 * own / total:.0f} %"
                           for layer, own in sorted(layers.items(), key=lambda kv: -kv[1]))
        print(f"- **{name}**: {alone_ms:.1f} ms a request alone, {per_request:g} statements (on SQLite BEGIN "
              f"IMMEDIATE included); own "
              f"time by layer (under cProfile, built-ins with their callers): {shares}")
        if args.top:
            stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
