"""The bare baseline: the same stack as Portal (Flask, SQLAlchemy Core, the same
engine settings from portal.db.make_engine, gunicorn sync workers) with no domain
logic, no auth and no serializers. Each endpoint does the least work that the
matching Portal scenario cannot avoid, so Portal/bare is the price of the domain.

    GET  /tiny                tiny JSON
    GET  /member/<id>         primary-key read of one members row, as JSON
    POST /insert-update       one transaction: insert a scratch row, update a counter row
    GET  /page?page=N         20 members ordered by id, offset N*20
    GET  /range?...           20 ledger transactions in an externalEventDate range, newest first
    GET  /groupby?...         count and sum of ledger transactions per day over a created_at range
    POST /bulk                executemany: one row per item and two per item (the rows of a batch)
    POST /coupon-use          a code used once: conditional UPDATE of its row (409 when it was used), a usage row
    GET  /wallet-page?member= a Jinja page: the member's balance and their 20 newest ledger rows
    POST /floor/...           the writes Portal's promises require, by hand (bench/floor.py)

Run by bench/run.py as `gunicorn --pythonpath bench bare:app` with DATABASE_URL set;
`prepare(url)` creates the scratch tables first.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask, abort, jsonify, render_template_string, request  # noqa: E402
from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, func, insert, select,  # noqa: E402
                        update)

import floor  # noqa: E402  (bench/floor.py: the writes Portal's promises require, by hand)
from portal.db import make_engine  # noqa: E402
from portal.domain.ledger import LedgerEntry, LedgerTransaction, Wallet  # noqa: E402
from portal.domain.members import Member  # noqa: E402

COUNTER_ROWS = 100
PAGE_SIZE = 20

scratch_metadata = MetaData()
scratch = Table("bench_scratch", scratch_metadata,
                Column("id", Integer, primary_key=True), Column("amount", Integer),
                Column("key", String(255)), Column("created_at", DateTime))
counters = Table("bench_counters", scratch_metadata,
                 Column("id", Integer, primary_key=True), Column("value", Integer, nullable=False))
bulk_rows = Table("bench_bulk_rows", scratch_metadata,
                  Column("id", Integer, primary_key=True), Column("wallet_id", Integer),
                  Column("amount", Integer), Column("created_at", DateTime))
bulk_pairs = Table("bench_bulk_pairs", scratch_metadata,
                   Column("id", Integer, primary_key=True), Column("wallet_id", Integer),
                   Column("amount", Integer), Column("created_at", DateTime))

codes = Table("bench_codes", scratch_metadata,
              Column("id", Integer, primary_key=True), Column("code", String(100), unique=True),
              Column("used", Integer, nullable=False))
usages = Table("bench_usages", scratch_metadata,
               Column("id", Integer, primary_key=True), Column("code_id", Integer), Column("member_id", Integer),
               Column("key", String(255)), Column("created_at", DateTime))

members = Member.__table__
transactions = LedgerTransaction.__table__
entries = LedgerEntry.__table__
wallets = Wallet.__table__

WALLET_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your points</title></head>
<body><main><h1>Your points</h1><p class="balance">{{ balance }}</p>
<table><thead><tr><th>Date</th><th>What</th><th>Points</th></tr></thead><tbody>
{% for row in rows %}<tr><td>{{ row.created_at.strftime("%d.%m.%Y") }}</td><td>{{ row.description }}</td>
<td>{{ "%+d"|format(row.amount) }}</td></tr>
{% endfor %}</tbody></table></main></body></html>
"""


def prepare(url: str, promo_codes: int = 0, single_code: str = "ONLY-ONE") -> None:
    """Create the scratch tables (empty), the counter rows, and the codes (unused): the promo pool's
    (`promo_codes` of them, named as Portal's) and the one single-use code."""
    engine = make_engine(url)
    try:
        scratch_metadata.drop_all(engine)
        scratch_metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(counters), [{"id": i, "value": 0} for i in range(1, COUNTER_ROWS + 1)])
            conn.execute(insert(codes), [{"code": f"BC{n:07d}", "used": 0} for n in range(promo_codes)]
                         + [{"code": single_code, "used": 0}])
    finally:
        engine.dispose()


def _plain(value):
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _time_arg(name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(request.args[name].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        abort(400)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def group_by_day_statement(account_id: int, since: dt.datetime, until: dt.datetime):
    """The raw GROUP BY a report is measured against: count and sum of the account's transactions per UTC
    day over [since, until) (also bench/report_speed.py's baseline)."""
    day = func.date(transactions.c.created_at).label("day")
    return (select(day, func.count().label("n"), func.sum(transactions.c.amount).label("amount"))
            .where(transactions.c.ledger_account_id == account_id, transactions.c.created_at >= since,
                   transactions.c.created_at < until)
            .group_by(day).order_by(day))


def create_app(url: str) -> Flask:
    """The bare stack. Its reads, like Portal's, end with COMMIT rather than a rollback: on PostgreSQL psycopg
    forgets its prepared statements at every ROLLBACK (portal/db.py), and a baseline that re-plans every read
    would flatter Portal's read ratios (by about 5 % for the primary-key read, measured in session 6)."""
    app = Flask(__name__)
    engine = make_engine(url)

    @app.get("/tiny")
    def tiny():
        return {"status": "ok"}

    @app.get("/member/<int:member_id>")
    def member(member_id: int):
        with engine.begin() as conn:
            row = conn.execute(select(members).where(members.c.id == member_id)).mappings().first()
        if row is None:
            abort(404)
        return jsonify({key: _plain(value) for key, value in row.items()})

    @app.post("/insert-update")
    def insert_update():
        body = request.get_json()
        with engine.begin() as conn:
            new_id = conn.execute(insert(scratch).values(
                amount=body["amount"], key=body.get("systemUniqueKey"),
                created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))).inserted_primary_key[0]
            conn.execute(update(counters).where(counters.c.id == random.randint(1, COUNTER_ROWS))
                         .values(value=counters.c.value + body["amount"]))
        return jsonify({"id": new_id}), 201

    @app.get("/page")
    def page():
        offset = request.args.get("page", 0, type=int) * PAGE_SIZE
        with engine.begin() as conn:
            rows = conn.execute(select(members).order_by(members.c.id).limit(PAGE_SIZE).offset(offset)).mappings()
            return jsonify({"results": [{k: _plain(v) for k, v in row.items()} for row in rows]})

    @app.get("/range")
    def date_range():
        offset = request.args.get("page", 0, type=int) * PAGE_SIZE
        # The page's keys first (from the index on account and date, which holds them on SQLite), then their rows,
        # as Portal picks them: the same database work, without Portal's count and extra columns.
        keys = (select(transactions.c.id)
                .where(transactions.c.ledger_account_id == request.args.get("account", type=int),
                       transactions.c.external_event_date >= _time_arg("from"),
                       transactions.c.external_event_date <= _time_arg("to"))
                .order_by(transactions.c.id.desc()).limit(PAGE_SIZE).offset(offset))
        stmt = (select(transactions).where(transactions.c.id.in_(keys.scalar_subquery()))
                .order_by(transactions.c.id.desc()))
        with engine.begin() as conn:
            rows = conn.execute(stmt).mappings()
            return jsonify({"results": [{k: _plain(v) for k, v in row.items()} for row in rows]})

    @app.get("/groupby")
    def group_by_day():
        stmt = group_by_day_statement(request.args.get("account", type=int), _time_arg("from"), _time_arg("to"))
        with engine.begin() as conn:
            rows = conn.execute(stmt).all()
        return jsonify({"days": [{"day": str(d), "count": n, "amount": int(a or 0)} for d, n, a in rows]})

    @app.post("/bulk")
    def bulk():
        items = request.get_json()["items"]
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(insert(bulk_rows), [{"wallet_id": item["toWalletId"], "amount": item["amount"],
                                              "created_at": now} for item in items])
            conn.execute(insert(bulk_pairs), [{"wallet_id": wallet, "amount": amount, "created_at": now}
                                              for item in items
                                              for wallet, amount in ((None, -item["amount"]),
                                                                     (item["toWalletId"], item["amount"]))])
        return jsonify({"inserted": len(items) * 3})

    @app.post("/coupon-use")
    def coupon_use():
        body = request.get_json()
        with engine.begin() as conn:
            code_id = conn.execute(update(codes).where(codes.c.code == body["code"], codes.c.used == 0)
                                   .values(used=codes.c.used + 1).returning(codes.c.id)).scalar()
            if code_id is None:
                return jsonify({"type": "coupon-already-used"}), 409
            conn.execute(insert(usages).values(code_id=code_id, member_id=body["memberId"],
                                               key=body.get("systemUniqueKey"),
                                               created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
        return jsonify({"couponUsageId": code_id}), 201

    @app.get("/wallet-page")
    def wallet_page():
        member_id = request.args.get("member", type=int)
        with engine.begin() as conn:
            wallet = conn.execute(select(wallets.c.id, wallets.c.balance)
                                  .where(wallets.c.member_id == member_id).order_by(wallets.c.id)).first()
            if wallet is None:
                abort(404)
            rows = conn.execute(
                select(entries.c.created_at, entries.c.amount, transactions.c.description)
                .join(transactions, transactions.c.id == entries.c.transaction_id)
                .where(entries.c.wallet_id == wallet.id).order_by(entries.c.id.desc()).limit(PAGE_SIZE)).all()
        return render_template_string(WALLET_PAGE, balance=wallet.balance, rows=rows)

    floor.register(app, engine)
    return app


app = create_app(os.environ["DATABASE_URL"]) if "DATABASE_URL" in os.environ else None
