"""CPU per request of the read scenarios, Portal against bare, in process: N requests through each app's test
client, timed with `time.process_time()` (the CPU of this process only: steadier than wall time or wrk while
other work shares the machine). The ratio bare/Portal is roughly what `make bench` shows as req/s Portal/bare on
a CPU-bound machine, without gunicorn's and wrk's own share (which both sides pay, so the bench's ratio is a
little closer to 1). On PostgreSQL the server's CPU is not counted: compare statements and plans there.

    .venv/bin/python bench/cpu_ratio.py                       # on a copy of the kept SQLite seed
    .venv/bin/python bench/cpu_ratio.py page balance --requests 500
    .venv/bin/python bench/cpu_ratio.py --database-url postgresql+psycopg://.../portal_bench_x --info f.json

The member balance is compared with bare's primary-key read, as the issue's target is.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from profile_request import open_seed, seed_arguments  # noqa: E402


def scenarios(info: dict) -> dict:
    """name -> (Portal path, bare path), n numbering the request."""
    api = f"/api/v1/organizations/{info['organizationId']}"
    first, last = info["firstMemberId"], info["lastMemberId"]
    member = lambda n: first + (n * 7919) % (last - first + 1)  # noqa: E731
    return {
        "tiny JSON": (lambda n: "/healthz", lambda n: "/tiny"),
        "primary-key read": (lambda n: f"{api}/members/{member(n)}", lambda n: f"/member/{member(n)}"),
        "20-row page": (lambda n: f"{api}/members?limit=20&order=id,asc&page={n % 50}",
                        lambda n: f"/page?page={n % 50}"),
        "member balance": (lambda n: f"{api}/members/{member(n)}/wallet", lambda n: f"/member/{member(n)}"),
    }


def cpu_ms(client, path, headers: dict, requests: int) -> float:
    started = time.process_time()
    for n in range(requests):
        response = client.get(path(n), headers=headers)
        assert response.status_code == 200, (path(n), response.status_code, response.get_data(as_text=True)[:300])
    return (time.process_time() - started) / requests * 1000


def main(argv=None) -> int:
    args = seed_arguments(__doc__, 300, "requests per round, 3 rounds, the best kept").parse_args(argv)
    info, url = open_seed(args, "cpu.db")
    import bare
    from app import app

    portal, plain = app.test_client(), bare.create_app(url).test_client()
    auth = {"User-Agent": "portal-bench", "Authorization": f"Bearer {info['apiKey']}"}
    for name, (portal_path, bare_path) in scenarios(info).items():
        if args.only and not any(word.lower() in name.lower() for word in args.only):
            continue
        cpu_ms(portal, portal_path, auth, 20), cpu_ms(plain, bare_path, {}, 20)
        rounds = [(cpu_ms(portal, portal_path, auth, args.requests), cpu_ms(plain, bare_path, {}, args.requests))
                  for _ in range(3)]
        ours, theirs = min(r[0] for r in rounds), min(r[1] for r in rounds)
        print(f"- **{name}**: Portal {ours:.3f} ms CPU a request, bare {theirs:.3f} ms; ratio {theirs / ours:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
