"""Seed a fresh benchmark database with a realistic volume.

One organisation (created through the domain, like any real one) with an admin
API key, then N members, each with a CARDCODE identifier and a points wallet,
and M ledger entries (M / 2 posted transactions: mints, and burns where the
member could afford them) bulk-inserted with SQLAlchemy Core in chunks.

The bulk part keeps the ledger's invariants (see portal/domain/ledger.py):
two entries per transaction summing to zero, every wallet balance equal to the
sum of its entries, issuance balance = -minted, burned balance = burned, no
member wallet below zero. Times are spread over the past year for transactions
(ids ascending with time) and the past two years for members.

    .venv/bin/python bench/seed.py                       # 100k members, 1M entries, bench/out/seed.db
    .venv/bin/python bench/seed.py --members 10000 --entries 100000 --path /tmp/x.db
    .venv/bin/python bench/seed.py --database-url postgresql+psycopg://.../portal_bench

A PostgreSQL database is dropped and recreated table by table, so seed.py
refuses a database whose name does not contain "bench".
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sys
import time
from operator import itemgetter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from portal.db import make_engine, new_session  # noqa: E402
from portal.domain import campaigns, coupons, ledger, members, organizations, passwords, points, staff  # noqa: E402
from portal.domain.actors import system_actor  # noqa: E402
from portal.domain.models import metadata  # noqa: E402

# Bump when the seeded content changes, so run.py does not reuse an old file.
SEED_VERSION = 4
DEFAULT_MEMBERS = 100_000
DEFAULT_ENTRIES = 1_000_000
CHUNK = 20_000
BURN_SHARE = 0.1
CAMPAIGNS = 20          # active purchase campaigns, MATCHING of them award points to any purchase
MATCHING = 2
COUPON_WINDOW = 10_000  # promo codes per wrk run (a run uses codes window*n .. window*(n+1)-1)
COUPON_WINDOWS = 16     # Portal's and the floor's warm-up, sample and 5 pairs each, and profile_request's last
PORTAL_MEMBER_MOVEMENTS = 25  # the member who logs in to the portal has more than a page of history
PORTAL_PASSWORD = "bench-member-password"

GIVEN = ["Anna", "Ben", "Clara", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Katja", "Luca",
         "Mia", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Sven", "Tara", "Umut", "Vera", "Wim", "Yara", "Zoe"]
FAMILY = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
          "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krüger"]
CITIES = [("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"), ("Köln", "50667"),
          ("Frankfurt am Main", "60311"), ("Stuttgart", "70173"), ("Leipzig", "04109"), ("Wien", "1010"),
          ("Zürich", "8001"), ("Dresden", "01067")]


def schema_fingerprint() -> str:
    """Changes when any table, column or index changes, so a seeded file from an older schema is not reused."""
    shape = sorted((t.name, sorted(c.name for c in t.columns), sorted(i.name for i in t.indexes))
                   for t in metadata.tables.values())
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def params_of(members_count: int, entries: int) -> dict:
    return {"seedVersion": SEED_VERSION, "members": members_count, "entries": entries,
            "schema": schema_fingerprint()}


def _fresh_schema(url: str, path: Path | None) -> None:
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        name = make_url(url).database or ""
        if "bench" not in name:
            raise SystemExit(f"Refusing to reset database {name!r}: its name must contain 'bench'")
    engine = make_engine(url)
    try:
        if path is None:
            metadata.drop_all(engine)
        metadata.create_all(engine)
    finally:
        engine.dispose()


def seed(url: str, *, members_count: int = DEFAULT_MEMBERS, entries: int = DEFAULT_ENTRIES,
         rng_seed: int = 42, quiet: bool = False) -> dict:
    """Create the schema and the data; return what run.py needs (ids, key, times)."""
    started = time.monotonic()

    def say(*words) -> None:
        if not quiet:
            print(f"[{time.monotonic() - started:5.1f} s]", *words, file=sys.stderr, flush=True)

    path = Path(make_url(url).database) if url.startswith("sqlite") else None
    _fresh_schema(url, path)
    engine = make_engine(url)
    if path is not None:
        @event.listens_for(engine, "connect")
        def _fast_build(dbapi_connection, _record):
            # A throwaway file being built: durability buys nothing here.
            dbapi_connection.execute("PRAGMA synchronous=OFF")
            dbapi_connection.execute("PRAGMA cache_size=-200000")
    rng = random.Random(rng_seed)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        # The organisation, its programme, ledger, accounts and key: through the domain.
        session = new_session(engine)
        org, program = organizations.create_organization(session, "Bench Retail")
        key, secret = staff.create_api_key(session, org.id, name="bench", roles=["admin"],
                                           actor=system_actor(org.id, "bench-seed"))
        account = session.get(ledger.LedgerAccount, program.points_account_id)
        issuance = ledger.system_wallet(session, account, ledger.ISSUANCE)
        burned = ledger.system_wallet(session, account, ledger.BURNED)
        session.commit()
        info = {"organizationId": org.id, "apiKey": secret, "apiKeyId": key.id, "ledgerId": program.ledger_id,
                "accountId": account.id, "programId": program.id, "issuanceWalletId": issuance.id,
                "burnedWalletId": burned.id}
        session.close()

        with engine.connect() as conn:
            first_member = _next_id(conn, "members")
            first_wallet = _next_id(conn, "wallets")
            first_tx = _next_id(conn, "ledger_transactions")
            first_entry = _next_id(conn, "ledger_entries")

            member_ids = range(first_member, first_member + members_count)
            wallet_of = {m: first_wallet + i for i, m in enumerate(member_ids)}
            say(f"members: {members_count:,}")
            _insert_members(conn, org.id, member_ids, rng, now)
            conn.commit()

            # Plan every transaction in time order, so burns only take what the wallet holds.
            transactions = entries // 2
            balances = dict.fromkeys(wallet_of.values(), 0)
            start = now - dt.timedelta(days=365)
            step = dt.timedelta(days=365) / max(transactions, 1)
            wallets = list(wallet_of.values())
            minted = burned_total = 0
            plan = []  # (kind, amount, source, target), in time order
            for _ in range(transactions):
                wallet = rng.choice(wallets)
                amount = rng.randint(1, 60)
                if rng.random() < BURN_SHARE and balances[wallet] >= amount:
                    plan.append((ledger.BURN, amount, wallet, burned.id))
                    balances[wallet] -= amount
                    burned_total += amount
                else:
                    plan.append((ledger.MINT, amount, issuance.id, wallet))
                    balances[wallet] += amount
                    minted += amount

            say(f"wallets: {members_count:,}")
            _chunked(conn, ledger.Wallet.__table__, (
                {"id": wallet_of[m], "organization_id": org.id, "ledger_account_id": account.id, "member_id": m,
                 "kind": ledger.MEMBER, "balance": balances[wallet_of[m]], "held": 0, "pending_in": 0,
                 "created_at": now - dt.timedelta(days=730) + dt.timedelta(seconds=i * 600)}
                for i, m in enumerate(member_ids)))
            conn.execute(update(ledger.Wallet.__table__).where(ledger.Wallet.id == issuance.id)
                         .values(balance=-minted))
            conn.execute(update(ledger.Wallet.__table__).where(ledger.Wallet.id == burned.id)
                         .values(balance=burned_total))
            conn.commit()

            # Indexes are cheaper to build once over the sorted rows than to keep up row by row.
            big_tables = (ledger.LedgerTransaction.__table__, ledger.LedgerEntry.__table__)
            deferred = [index for table in big_tables for index in table.indexes] if path is not None else []
            for index in deferred:
                index.drop(conn)
            say(f"ledger transactions: {transactions:,}")
            common = {"organization_id": org.id, "ledger_id": program.ledger_id, "ledger_account_id": account.id,
                      "status": ledger.POSTED, "pending_id": None, "reverts_id": None, "set_id": None,
                      "system_unique_key": None, "external_id": None, "tags": [], "actor_kind": "api_key",
                      "actor_id": key.id, "actor_label": f"key {key.prefix}"}
            _chunked(conn, ledger.LedgerTransaction.__table__, (
                {**common, "id": first_tx + n, "type": kind, "amount": amount, "from_wallet_id": source,
                 "to_wallet_id": target, "external_event_date": start + step * (n + 1),
                 "created_at": start + step * (n + 1),
                 "description": "Purchase" if kind == ledger.MINT else "Reward redeemed"}
                for n, (kind, amount, source, target) in enumerate(plan)))
            conn.commit()
            say(f"ledger entries: {2 * transactions:,}")
            _chunked(conn, ledger.LedgerEntry.__table__, (
                {"id": first_entry + 2 * n + side, "transaction_id": first_tx + n,
                 "wallet_id": source if side == 0 else target, "amount": -amount if side == 0 else amount,
                 "created_at": start + step * (n + 1)}
                for n, (kind, amount, source, target) in enumerate(plan) for side in (0, 1)))
            conn.commit()
            say(f"indexes: {len(deferred)}")
            for index in deferred:
                index.create(conn)
            if conn.dialect.name == "postgresql":
                # Rows came with explicit ids: move the id sequences past them.
                for table in ("members", "wallets", "ledger_transactions", "ledger_entries"):
                    conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                         f"(SELECT MAX(id) FROM {table}))")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

        say(f"campaigns: {CAMPAIGNS}; coupon books: 2 ({COUPON_WINDOW * COUPON_WINDOWS:,} promo codes); "
            "the portal member")
        info.update(_till_fixtures(engine, info, first_member, now))
        info.update({"firstMemberId": first_member, "lastMemberId": first_member + members_count - 1,
                     "firstWalletId": first_wallet, "lastWalletId": first_wallet + members_count - 1,
                     "loyaltyMemberIdFormat": "BM%08d", "firstLoyaltyNumber": 1,
                     "transactions": transactions, "minted": minted, "burned": burned_total,
                     "seededAt": now.isoformat(), "seconds": round(time.monotonic() - started, 1),
                     **params_of(members_count, entries)})
        say(f"seeded in {info['seconds']} s")
        return info
    finally:
        engine.dispose()


def _till_fixtures(engine, info: dict, first_member: int, now: dt.datetime) -> dict:
    """What the till scenarios need, through the domain: CAMPAIGNS active purchase campaigns (MATCHING of them
    award points to every purchase, the others ask for an order no bench request makes), a promo coupon book
    with a pool of single-use codes (bulk-inserted), a book with one single-use code for the concurrency check,
    and the first member with a password and PORTAL_MEMBER_MOVEMENTS movements for the portal's wallet page."""
    organization_id = info["organizationId"]
    actor = system_actor(organization_id, "bench-seed")
    session = new_session(engine)
    try:
        for n in range(CAMPAIGNS):
            matching = n < MATCHING
            campaign = campaigns.create_campaign(session, organization_id, code=f"BENCH-{n:02d}",
                                                 name=f"Bench campaign {n}", actor=actor)
            campaigns.add_action(session, campaign, actor=actor,
                                 rules_text=["order.total > 0" if matching else f"order.total > {100_000 + n}"],
                                 effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
        promo = coupons.create_book(session, organization_id, actor=actor, name="Bench promo", type="REWARD",
                                    publishing_status="published")
        single = coupons.create_book(session, organization_id, actor=actor, name="Bench single use", type="REWARD",
                                     publishing_status="published")
        coupons.import_codes(session, single, ["ONLY-ONE"], actor=actor)
        coupons.import_codes(session, promo, [promo_code(0)], actor=actor)  # the book has a pool now; the rest below
        member = session.get(members.Member, first_member)
        member.password_hash = passwords.hash_password(PORTAL_PASSWORD)
        for n in range(PORTAL_MEMBER_MOVEMENTS):
            points.mint_to_member(session, member, 10 + n, actor=actor,
                                  reason=ledger.Reason(description=f"Purchase {n + 1}"))
        session.commit()
        fixtures = {"promoBookId": promo.id, "singleUseBookId": single.id, "singleUseCode": "ONLY-ONE",
                    "couponWindow": COUPON_WINDOW, "couponWindows": COUPON_WINDOWS, "campaigns": CAMPAIGNS,
                    "matchingCampaigns": MATCHING, "portalMemberId": member.id, "portalEmail": member.email,
                    "portalPassword": PORTAL_PASSWORD}
    finally:
        session.close()
    with engine.begin() as conn:
        _chunked(conn, coupons.CouponCode.__table__, (
            {"organization_id": organization_id, "book_id": fixtures["promoBookId"], "code": promo_code(n),
             "assigned_count": 0, "used_count": 0, "created_at": now}
            for n in range(1, COUPON_WINDOW * COUPON_WINDOWS)))
    return fixtures


def promo_code(n: int) -> str:
    """The n-th code of the promo pool (run.py's Lua writes the same with string.format)."""
    return f"BC{n:07d}"


def _next_id(conn, table: str) -> int:
    return int(conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").scalar())


def _insert_members(conn, organization_id: int, member_ids: range, rng: random.Random, now: dt.datetime) -> None:
    codes: set[str] = set()

    def member_rows():
        for i, member_id in enumerate(member_ids, start=1):
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            city, zip_code = rng.choice(CITIES)
            created = now - dt.timedelta(days=730) + dt.timedelta(seconds=i * 600)
            yield {"id": member_id, "organization_id": organization_id, "loyalty_member_id": f"BM{i:08d}",
                   "member_type": "individual", "active": True, "account_status": members.ACTIVE,
                   "email": f"member{i}@bench.example", "given_name": given, "family_name": family,
                   "birth_date": dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20_000)),
                   "phone": f"+49 30 {rng.randrange(10**6, 10**7)}", "street": f"Hauptstraße {i % 200 + 1}",
                   "city": city, "zip_code": zip_code, "country_code": "DE", "custom_attributes": {},
                   "locale": "de" if i % 3 else "en", "optins": {}, "password_hash": None, "erased_at": None,
                   "session_version": 0,
                   "created_at": created, "updated_at": created}

    def identifier_rows():
        for member_id in member_ids:
            code = _card_code(rng)
            while code in codes:
                code = _card_code(rng)
            codes.add(code)
            yield {"organization_id": organization_id, "member_id": member_id, "type": members.CARDCODE,
                   "code": code, "created_at": now}

    _chunked(conn, members.Member.__table__, member_rows())
    _chunked(conn, members.Identifier.__table__, identifier_rows())


def _card_code(rng: random.Random) -> str:
    """Like members.generate_card_code, with the seeded generator (secrets costs a system call a character)."""
    payload = "".join(rng.choices(members.CODE_ALPHABET, k=members.CARDCODE_LENGTH - 1))
    return payload + members.check_character(payload)


def _chunked(conn, table, rows) -> None:
    """executemany in chunks, so memory stays flat and each statement stays a reasonable size.

    On SQLite the rows go to the driver already in storage form (the same text
    SQLAlchemy's types write), through the SQL compiled from insert(table):
    SQLAlchemy's per-value bind processing would otherwise take most of the time.
    """
    to_driver = _driver_rows(conn, table) if conn.dialect.name == "sqlite" else None
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            _insert_chunk(conn, table, chunk, to_driver)
            chunk = []
    if chunk:
        _insert_chunk(conn, table, chunk, to_driver)


def _insert_chunk(conn, table, chunk: list[dict], to_driver) -> None:
    if to_driver is None:
        conn.execute(insert(table), chunk)
    else:
        sql, convert = to_driver(list(chunk[0]))
        conn.exec_driver_sql(sql, [convert(row) for row in chunk])


def _driver_rows(conn, table):
    cache: dict[tuple, tuple] = {}

    def compiled_for(keys: list[str]):
        if tuple(keys) not in cache:
            compiled = insert(table).compile(dialect=conn.dialect, column_keys=keys)
            order = list(compiled.positiontup)
            # Columns added to the schema since a row shape was written get their scalar default.
            fill = {name: _scalar_default(table.c[name]) for name in order if name not in keys}

            def pick(row: dict, _get=itemgetter(*order)):
                return _get({**fill, **row}) if fill else _get(row)
            converters = [(i, _remember_last(fn)) for i, name in enumerate(order)
                          if (fn := _sqlite_converter(table.c[name].type)) is not None]

            def convert(row: dict):
                values = list(pick(row))
                for i, fn in converters:
                    if values[i] is not None:
                        values[i] = fn(values[i])
                return tuple(values)

            cache[tuple(keys)] = (str(compiled), convert)
        return cache[tuple(keys)]

    return compiled_for


def _scalar_default(column):
    default = column.default
    if default is not None and default.is_scalar:
        return default.arg
    if default is not None and default.is_callable:
        return default.arg(None)
    return None


def _remember_last(fn):
    """Neighbouring rows often share a value (a transaction's time, its two entries): convert it once."""
    last = [object(), None]

    def convert(value):
        if value != last[0]:
            last[0], last[1] = value, fn(value)
        return last[1]

    return convert


def _sqlite_datetime(value: dt.datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; isoformat is several times faster than strftime."""
    if value.utcoffset():
        value = value.astimezone(dt.timezone.utc)
    text = value.isoformat(" ")
    return text[:26] if value.microsecond else text[:19] + ".000000"


def _sqlite_converter(column_type):
    """Python value -> what SQLAlchemy would store on SQLite (tz-aware UTC datetimes as naive UTC text)."""
    from sqlalchemy import JSON, Boolean, Date

    from portal.domain.base import UTCDateTime

    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime
    if isinstance(column_type, JSON):
        return json.dumps
    if isinstance(column_type, Date):
        return dt.date.isoformat
    if isinstance(column_type, Boolean):
        return int
    return None


def write_info(info: dict, path: Path) -> None:
    path.write_text(json.dumps(info, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=DEFAULT_MEMBERS)
    parser.add_argument("--entries", type=int, default=DEFAULT_ENTRIES, help="ledger entries (2 per transaction)")
    parser.add_argument("--path", type=Path, default=ROOT / "bench" / "out" / "seed.db", help="SQLite file")
    parser.add_argument("--database-url", help="seed this database instead (PostgreSQL; name must contain 'bench')")
    args = parser.parse_args(argv)
    url = args.database_url or f"sqlite:///{args.path.resolve()}"
    info = seed(url, members_count=args.members, entries=args.entries)
    if not args.database_url:
        write_info(info, args.path.with_suffix(".json"))
    print(f"organization id: {info['organizationId']}")
    print(f"API key (admin): {info['apiKey']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
