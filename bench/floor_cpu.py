"""CPU per request of the purchase, the coupon code use, the mint and the batch of 20, Portal against the floor (bench/floor.py: the rows
Portal's promises require, written by hand), in process: N requests through each app's test client, timed with
`time.process_time()` (the CPU of this process only: steadier than wall time while other work shares the
machine), 3 rounds, the best kept. floor/Portal is roughly the bench's req/s ratio Portal/floor on SQLite.

    .venv/bin/python bench/floor_cpu.py                    # on a copy of the kept SQLite seed
    .venv/bin/python bench/floor_cpu.py purchase --requests 300
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from profile_request import member_of, open_seed, seed_arguments  # noqa: E402


def main(argv=None) -> int:
    args = seed_arguments(__doc__, 150, "requests per round (3 rounds, the best kept)").parse_args(argv)
    info, url = open_seed(args, "floor-cpu.db")
    import bare
    from app import app

    bare.prepare(url, promo_codes=info["couponWindow"] * info["couponWindows"], single_code=info["singleUseCode"])
    portal, plain = app.test_client(), bare.create_app(url).test_client()
    auth = {"Authorization": f"Bearer {info['apiKey']}", "User-Agent": "portal-bench"}
    api = f"/api/v1/organizations/{info['organizationId']}"
    member = member_of(info)
    run, window = os.urandom(3).hex(), info["couponWindow"]

    def order(prefix: str):
        return lambda n: {"externalId": f"{prefix}-{run}-{n}", "status": "confirmed", "total": 25.0,
                          "items": [{"sku": "BENCH-1", "quantity": 1, "unitPrice": 25.0}]}

    def use(codes_from: int):  # Portal and the floor each use their own window of the pool's codes
        return lambda n: {"memberId": member(n), "code": f"BC{codes_from + n:07d}",
                          "systemUniqueKey": f"cpu-use-{run}-{codes_from}-{n}"}

    sides = {
        "purchase": ((portal, auth, lambda n: f"{api}/members/{member(n)}/purchase-orders", order("cpu")),
                     (plain, {}, lambda n: f"/floor/purchase/{member(n + 500_000)}?program={info['programId']}",
                      order("floor"))),
        "coupon use": ((portal, auth, lambda n: f"{api}/coupon-books/{info['promoBookId']}/use", use(0)),
                       (plain, {}, lambda n: f"/floor/coupon-use?book={info['promoBookId']}", use(window))),
    }

    wallets = info["lastWalletId"] - info["firstWalletId"] + 1

    def mint(prefix: str):
        return lambda n: {"amount": 10, "systemUniqueKey": f"{prefix}-{run}-{n}", "description": "bench"}

    def batch(offset: int):  # 20 mints to wallets spread over the seed, as the bench's batch
        return lambda n: {"items": [{"amount": 5, "ledgerId": info["ledgerId"], "ledgerAccountId": info["accountId"],
                                     "toWalletId": info["firstWalletId"] + ((offset + n) * 20 + i) * 7919 % wallets}
                                    for i in range(20)]}

    sides["mint"] = ((portal, auth, lambda n: f"{api}/loyalty-members/BM{member(n):08d}/mint", mint("cpu")),
                     (plain, {}, lambda n: f"/floor/mint/BM{member(n + 500_000):08d}?account={info['accountId']}",
                      mint("floor")))
    sides["batch"] = ((portal, auth, lambda n: f"{api}/ledger-transactions/batch", batch(0)),
                      (plain, {}, lambda n: "/floor/batch", batch(50_000)))

    def timed(side, start: int, count: int) -> float:
        client, headers, path, body = side
        began = time.process_time()
        for n in range(start, start + count):
            response = client.post(path(n), json=body(n), headers=headers)
            assert response.status_code in (200, 201), response.get_data(as_text=True)[:300]
        return (time.process_time() - began) / count * 1000

    for name, (ours, floor) in sides.items():
        if args.only and not any(word in name for word in args.only):
            continue
        timed(ours, 0, 10), timed(floor, 0, 10)
        rounds = [(timed(ours, 10 + k * args.requests, args.requests), timed(floor, 10 + k * args.requests,
                                                                           args.requests)) for k in range(3)]
        portal_ms, floor_ms = min(r[0] for r in rounds), min(r[1] for r in rounds)
        print(f"- **{name}**: Portal {portal_ms:.2f} ms CPU a request, floor {floor_ms:.2f} ms: "
              f"floor/Portal {floor_ms / portal_ms:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
