"""The floor of the write scenarios: what Portal's promises make it write, done by hand.

bare.py's insert+update and coupon-use rows are what the issue compares Portal with; they write 2 rows.
Portal also promises idempotency by key, exact balances of both wallets (the issuance side sharded),
balanced entries, an audit row and an outbox event per movement (`../shared/design/RELIABILITY.md`). These
endpoints write exactly those rows into Portal's own tables with SQLAlchemy Core, with no domain code, no
auth, no validation and no serializer: the least a correct implementation on this stack can send. The
req/s ratio floor/bare is therefore the best ratio any Portal could reach against the issue's baseline;
Portal/floor is what our code costs on top of its promises.

    POST /floor/mint/<loyaltyId>?account=A     a mint: member and wallet (1 select), idempotency key, transaction,
                                               member balance, issuance shard, 2 entries, audit, outbox
    POST /floor/purchase/<memberId>?program=P  a purchase earning points: member's wallets (1 select), the
                                               order with its awards known (campaigns kept in the process),
                                               its item, points and tier-point transactions, both balances,
                                               shards, entries, evaluations, audit and outbox rows
    POST /floor/batch                          20 mints to wallets of one account: transactions, balances, shards,
                                               entries, an audit and an outbox row per item, each statement once
    POST /floor/coupon-use?book=B              a pool code assigned and used at once: idempotency key, the
                                               code's conditional update, the member's coupon, assign and use
                                               rows, the book's counters, audit and outbox

Each statement is one round trip with a shape SQLAlchemy compiles once per process (multi-row writes go
through executemany). Nothing is read twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid

from flask import Flask, abort, jsonify, request
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.domain.audit import AuditEntry
from portal.domain.campaigns import Campaign, CampaignAction, CampaignEvaluation
from portal.domain.coupons.models import AccountCoupon, CouponBook, CouponCode, CouponUsage
from portal.domain.idempotency import IdempotencyKey
from portal.domain.ledger import SHARDS, LedgerAccount, LedgerEntry, LedgerTransaction, Wallet, WalletShard
from portal.domain.members import Member
from portal.domain.orders import OrderItem, PurchaseOrder
from portal.domain.organizations import LoyaltyProgram
from portal.domain.outbox import OutboxEvent

members, wallets, shards = Member.__table__, Wallet.__table__, WalletShard.__table__
transactions, entries = LedgerTransaction.__table__, LedgerEntry.__table__
keys, audit, outbox = IdempotencyKey.__table__, AuditEntry.__table__, OutboxEvent.__table__
orders, items, evaluations = PurchaseOrder.__table__, OrderItem.__table__, CampaignEvaluation.__table__
codes, account_coupons, usages, books = (CouponCode.__table__, AccountCoupon.__table__, CouponUsage.__table__,
                                         CouponBook.__table__)

POINTS_PER_UNIT = 1  # the seed's matching campaigns award 1 point per unit of money


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def register(app: Flask, engine) -> None:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    known: dict = {}  # what a real process would keep: an account's system wallets, a programme's campaigns

    def upsert(table):
        return dialect.insert(table)

    def account_facts(conn, account_id: int) -> dict:
        if ("account", account_id) not in known:
            account = conn.execute(select(LedgerAccount.__table__).where(
                LedgerAccount.__table__.c.id == account_id)).mappings().one()
            system = dict(conn.execute(select(wallets.c.kind, wallets.c.id).where(
                wallets.c.ledger_account_id == account_id, wallets.c.kind != "member")).all())
            known["account", account_id] = {"organization_id": account["organization_id"],
                                            "ledger_id": account["ledger_id"], "issuance": system["issuance"]}
        return known["account", account_id]

    def program_facts(conn, program_id: int) -> dict:
        if ("program", program_id) not in known:
            program = conn.execute(select(LoyaltyProgram.__table__).where(
                LoyaltyProgram.__table__.c.id == program_id)).mappings().one()
            # The seed's rules are all `order.total > N`: read by hand here, where Portal has its rule language.
            actions = conn.execute(select(CampaignAction.__table__.c.campaign_id, CampaignAction.__table__.c.id,
                                          CampaignAction.__table__.c.rules)
                                   .join(Campaign.__table__, Campaign.__table__.c.id == CampaignAction.__table__.c.campaign_id)
                                   .where(Campaign.__table__.c.loyalty_program_id == program_id,
                                          Campaign.__table__.c.active)).all()
            known["program", program_id] = {
                "points": account_facts(conn, program["points_account_id"]) | {"id": program["points_account_id"]},
                "tier": account_facts(conn, program["tier_points_account_id"])
                | {"id": program["tier_points_account_id"]},
                "actions": [(a.campaign_id, a.id, float(re.fullmatch(r"order\.total > (\S+)", a.rules[0])[1]))
                            for a in actions]}
        return known["program", program_id]

    def claim_key(conn, organization_id: int, key: str, operation: str, body: bytes) -> bool:
        """The idempotency row; False when the key was used before (the caller answers with the first result)."""
        inserted = conn.execute(upsert(keys).values(
            organization_id=organization_id, key=key, operation=operation,
            fingerprint=hashlib.sha256(body).hexdigest(), result={}, created_at=_now())
            .on_conflict_do_nothing().returning(keys.c.id)).scalar()
        return inserted is not None

    def post(conn, facts: dict, account_id: int, moves: list[tuple[int, int]], description: str,
             actor: str, now: dt.datetime, **extra) -> list[int]:
        """Mints of `amount` to each (member wallet, amount): transactions, balances, shards, entries."""
        rows = [dict(organization_id=facts["organization_id"], ledger_id=facts["ledger_id"],
                     ledger_account_id=account_id, type="mint", status="posted", amount=amount,
                     from_wallet_id=facts["issuance"], to_wallet_id=wallet, description=description, tags=[],
                     actor_kind="api_key", actor_id=1, actor_label=actor, created_at=now, **extra)
                 for wallet, amount in moves]
        ids = [row.id for row in conn.execute(
            insert(transactions).returning(transactions.c.id, sort_by_parameter_order=True), rows)]
        conn.execute(update(wallets).where(wallets.c.id == bindparam("wallet"))
                     .values(balance=wallets.c.balance + bindparam("amount")),
                     [{"wallet": wallet, "amount": amount} for wallet, amount in sorted(moves)])
        deltas: dict[tuple[int, int], int] = {}
        for wallet, amount in moves:
            shard = (facts["issuance"], wallet % SHARDS)
            deltas[shard] = deltas.get(shard, 0) - amount
        stmt = upsert(shards)
        conn.execute(stmt.on_conflict_do_update(index_elements=[shards.c.wallet_id, shards.c.shard],
                                                set_={"balance": shards.c.balance + stmt.excluded.balance}),
                     [{"wallet_id": w, "shard": s, "balance": delta} for (w, s), delta in sorted(deltas.items())])
        conn.execute(insert(entries), [
            row for tx, (wallet, amount) in zip(ids, moves)
            for row in ({"transaction_id": tx, "wallet_id": facts["issuance"], "amount": -amount, "created_at": now},
                        {"transaction_id": tx, "wallet_id": wallet, "amount": amount, "created_at": now})])
        return ids

    def record(conn, organization_id: int, member_id: int | None, action: str, target: str, target_id: int,
               event: str, payload: dict, now: dt.datetime) -> None:
        record_many(conn, organization_id, [(member_id, target_id, payload)], action, target, event, now)

    def record_many(conn, organization_id: int, rows: list[tuple], action: str, target: str, event: str,
                    now: dt.datetime) -> None:
        """An audit row and an outbox event for each (member id, target id, payload)."""
        conn.execute(insert(audit), [dict(organization_id=organization_id, actor_kind="api_key", actor_id=1,
                                          actor_label="key floor", action=action, target_type=target,
                                          target_id=str(target_id), details=payload, created_at=now)
                                     for _member, target_id, payload in rows])
        conn.execute(insert(outbox), [dict(organization_id=organization_id, event_type=event, member_id=member,
                                           payload=payload, created_at=now) for member, _target, payload in rows])

    @app.post("/floor/mint/<loyalty_id>")
    def floor_mint(loyalty_id: str):
        raw = request.get_data()
        body = json.loads(raw)
        account_id = request.args.get("account", type=int)
        now = _now()
        with engine.begin() as conn:
            facts = account_facts(conn, account_id)
            member = conn.execute(
                select(members.c.id, wallets.c.id.label("wallet_id"))
                .join(wallets, and_(wallets.c.member_id == members.c.id, wallets.c.ledger_account_id == account_id))
                .where(members.c.organization_id == facts["organization_id"],
                       members.c.loyalty_member_id == loyalty_id)).first()
            if member is None:
                abort(404)
            if not claim_key(conn, facts["organization_id"], body["systemUniqueKey"], "mint", raw):
                return jsonify({"replayed": True}), 200
            [tx] = post(conn, facts, account_id, [(member.wallet_id, body["amount"])], body.get("description", ""),
                        "key floor", now, system_unique_key=body["systemUniqueKey"])
            record(conn, facts["organization_id"], member.id, "ledger.minted", "ledger_transaction", tx,
                   "points.minted", {"transactionId": tx, "amount": body["amount"]}, now)
        return jsonify({"transaction": {"id": tx, "amount": body["amount"]}}), 201

    @app.post("/floor/purchase/<int:member_id>")
    def floor_purchase(member_id: int):
        body = request.get_json()
        program = request.args.get("program", type=int)
        now = _now()
        total = body["total"]
        with engine.begin() as conn:
            facts = program_facts(conn, program)
            points, tier = facts["points"], facts["tier"]
            owned = dict(conn.execute(select(wallets.c.ledger_account_id, wallets.c.id).where(
                wallets.c.member_id == member_id, wallets.c.ledger_account_id.in_([points["id"], tier["id"]]))).all())
            if points["id"] not in owned:
                abort(404)
            matching = [(campaign, action) for campaign, action, above in facts["actions"] if total > above]
            award = int(total) * POINTS_PER_UNIT
            earned = award * len(matching)
            order = conn.execute(insert(orders).values(
                organization_id=points["organization_id"], member_id=member_id, external_id=body["externalId"],
                status="confirmed", total=total, points_earned=earned, points_awarded=earned,
                tier_points_earned=earned, tier_points_awarded=earned, confirmed_at=now, created_at=now,
                updated_at=now).returning(orders.c.id)).scalar()
            conn.execute(insert(items), [{"order_id": order, "line": n, "sku": item["sku"],
                                          "quantity": item["quantity"], "unit_price": item["unitPrice"]}
                                         for n, item in enumerate(body["items"], 1)])
            point_txs = post(conn, points, points["id"], [(owned[points["id"]], award) for _ in matching],
                             "purchase", "key floor", now)
            if tier["id"] not in owned:  # a member's first tier points create the wallet, as Portal's purchase does
                owned[tier["id"]] = conn.execute(upsert(wallets).values(
                    organization_id=points["organization_id"], ledger_account_id=tier["id"], member_id=member_id,
                    kind="member", balance=0, held=0, pending_in=0, created_at=now)
                    .on_conflict_do_nothing().returning(wallets.c.id)).scalar() or conn.execute(
                    select(wallets.c.id).where(wallets.c.member_id == member_id,
                                               wallets.c.ledger_account_id == tier["id"])).scalar_one()
            post(conn, tier, tier["id"], [(owned[tier["id"]], earned)], "purchase", "key floor", now)
            conn.execute(insert(evaluations), [
                {"organization_id": points["organization_id"], "campaign_id": campaign, "action_id": action,
                 "member_id": member_id, "event_type": "purchase", "order_id": order, "effect_type": "points",
                 "points": award, "ledger_transaction_id": tx, "created_at": now}
                for (campaign, action), tx in zip(matching, point_txs)])
            record(conn, points["organization_id"], member_id, "order.confirmed", "purchase_order", order,
                   "order.confirmed", {"orderId": order, "pointsAwarded": earned}, now)
        return jsonify({"evaluationResults": {"pointsAwarded": earned}, "id": order}), 201

    @app.post("/floor/batch")
    def floor_batch():
        body = request.get_json()["items"]
        now = _now()
        with engine.begin() as conn:
            facts = account_facts(conn, body[0]["ledgerAccountId"])
            moves = [(item["toWalletId"], item["amount"]) for item in body]
            txs = post(conn, facts, body[0]["ledgerAccountId"], moves, "", "key floor", now)
            record_many(conn, facts["organization_id"],
                        [(None, tx, {"transactionId": tx, "amount": amount}) for tx, (_w, amount) in zip(txs, moves)],
                        "ledger.minted", "ledger_transaction", "points.minted", now)
        return jsonify({"processed": [{"id": tx} for tx in txs], "failed": []}), 200

    @app.post("/floor/coupon-use")
    def floor_coupon_use():
        raw = request.get_data()
        body = json.loads(raw)
        book = request.args.get("book", type=int)
        now = _now()
        with engine.begin() as conn:
            member = conn.execute(select(members.c.id, members.c.organization_id)
                                  .where(members.c.id == body["memberId"])).first()
            if member is None:
                abort(404)
            if not claim_key(conn, member.organization_id, body["systemUniqueKey"], "coupon.use", raw):
                return jsonify({"replayed": True}), 200
            code = conn.execute(update(codes).where(codes.c.book_id == book, codes.c.code == body["code"],
                                                    codes.c.used_count == 0, codes.c.active)
                                .values(assigned_count=codes.c.assigned_count + 1, used_count=codes.c.used_count + 1)
                                .returning(codes.c.id)).scalar()
            if code is None:
                return jsonify({"type": "coupon-code-used"}), 409
            mine = upsert(account_coupons).values(  # one row per member and book, counting its codes
                organization_id=member.organization_id, book_id=book, member_id=member.id,
                public_id=str(uuid.uuid4()), assigned_count=1, used_count=1, created_at=now)
            coupon = conn.execute(mine.on_conflict_do_update(
                index_elements=[account_coupons.c.book_id, account_coupons.c.member_id],
                set_={"assigned_count": account_coupons.c.assigned_count + 1,
                      "used_count": account_coupons.c.used_count + 1})
                .returning(account_coupons.c.id)).scalar()
            common = dict(organization_id=member.organization_id, book_id=book, member_id=member.id,
                          account_coupon_id=coupon, code_id=code, actor_kind="api_key", actor_id=1,
                          actor_label="key floor", created_at=now)
            assignment = conn.execute(insert(usages).values(common | {"kind": "assign", "state": "used", "used_at": now})
                                      .returning(usages.c.id)).scalar()
            conn.execute(insert(usages).values(common | {"kind": "use", "state": "used", "used_at": now,
                                                         "assignment_id": assignment,
                                                         "system_unique_key": body["systemUniqueKey"]}))
            conn.execute(update(books).where(books.c.id == book).values(
                assigned_count=books.c.assigned_count + 1, used_count=books.c.used_count + 1, updated_at=now))
            record(conn, member.organization_id, member.id, "coupon.used", "account_coupon", coupon,
                   "coupon.used", {"code": body["code"], "memberId": member.id}, now)
        return jsonify({"couponUsages": [{"id": code}]}), 201
