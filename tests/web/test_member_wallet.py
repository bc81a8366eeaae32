"""Member wallet: balances, pending points, tier progress, expiring points, and
the history with running balance, paged and filtered (htmx fragment from the
same URL); another member's or organisation's data is never reachable."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from portal.domain import expiry, ledger, points
from portal.domain.ledger import LedgerAccount, LedgerTransaction, Reason
from portal.domain.points import TransferRequest

from tests import factories

from .member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401
from .page import page, text_of


def mint(session, org, member, amount, description, account_id=None):
    points.mint_to_member(session, member, amount, actor=org.actor, reason=Reason(description=description),
                          account_id=account_id)


def burn(session, org, member, amount, description):
    points.burn_from_member(session, member, amount, actor=org.actor, reason=Reason(description=description))


def history_rows(doc):
    """[[date, description, points, balance], ...] as shown, newest first."""
    return [[text_of(td) for td in tr if td.tag.endswith("td")] for tr in doc.all("#history-results tbody tr")]


def test_a_new_member_sees_zero_and_an_empty_history(portal, logged_in):
    doc = portal.page("/wallet")
    assert doc.text(".tile--main .tile__value") == "0"
    assert doc.text("#history-results") .startswith("0 movements")
    assert "No movements yet." in doc.text("#history-results")
    assert doc.text("[data-testid=expiring]") == "None: your points do not expire."
    assert doc.text(".tier-name") == "No tier yet"


def test_wallet_shows_balances_tier_progress_and_a_running_balance(portal, logged_in, session, org):
    factories.make_tiers(session, org)
    mint(session, org, logged_in, 120, "Purchase in Berlin")
    burn(session, org, logged_in, 20, "Free coffee")
    mint(session, org, logged_in, 600, "Tier bonus", account_id=org.program.tier_points_account_id)
    session.commit()

    doc = portal.page("/wallet")
    assert doc.text(f"[data-testid=balance-{org.program.points_account_id}]") == "100"
    assert doc.text(f"[data-testid=balance-{org.program.tier_points_account_id}]") == "600"
    assert doc.text(".tier-name") == "Silver"
    assert doc.text("label[for=tier-progress]") == "900 more tier points to Gold"
    progress = doc.one("progress#tier-progress")
    assert (progress.get("value"), progress.get("max")) == ("100", "1000")
    rows = history_rows(doc)
    assert [row[-2:] for row in rows] == [["−20", "100"], ["+120", "120"]]
    assert [td.get("class") for td in doc.all("#history-results tbody td:nth-child(3)")] == ["num amount--out",
                                                                                           "num amount--in"]
    assert [tr.get("data-transaction") for tr in doc.all("#history-results tbody tr")] == [
        str(tx_id) for tx_id in session.scalars(select(LedgerTransaction.id).order_by(LedgerTransaction.id.desc())
                                                .where(LedgerTransaction.description.in_(["Free coffee",
                                                                                          "Purchase in Berlin"])))]
    assert "Free coffee" in " ".join(rows[0]) and "Redeemed" in " ".join(rows[0])
    assert "Purchase in Berlin" in " ".join(rows[1])


def test_pending_points_are_shown_apart_from_the_balance(portal, logged_in, session, org):
    account = session.get(LedgerAccount, org.program.points_account_id)
    wallet = ledger.member_wallet(session, account, logged_in.id)
    points.post_transaction(session, org.id, TransferRequest(amount=75, ledger_account_id=account.id,
                                                             to_wallet_id=wallet.id, capture_method="manual",
                                                             reason=Reason(description="Online order")),
                            actor=org.actor)
    session.commit()
    doc = portal.page("/wallet")
    assert doc.text(".tile--main .tile__value") == "0"
    assert doc.text(".tile--main .tile__note") == "75 pending"


def test_history_is_paged_and_filtered_and_htmx_gets_only_the_rows(portal, logged_in, session, org):
    for n in range(25):
        mint(session, org, logged_in, 10, f"Visit {n}")
    burn(session, org, logged_in, 5, "Espresso")
    session.commit()

    first = portal.page("/wallet")
    assert len(history_rows(first)) == 20
    assert first.text(".history__summary") == "26 movements · page 1 of 2"
    older = first.one('.pager a[rel="next"]')
    assert older.get("href") == "/wallet?page=1" and older.get("hx-get") == "/wallet?page=1"

    second = portal.page("/wallet?page=1")
    rows = history_rows(second)
    assert len(rows) == 6 and rows[-1][-2:] == ["+10", "10"]

    fragment = portal.get("/wallet?page=1", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "HX-Request" in fragment.vary
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="history-results"')
    assert len(history_rows(page(fragment))) == 6
    # A history restore wants the whole page.
    restore = portal.get("/wallet?page=1", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)

    burns = portal.page("/wallet?type=burn")
    rows = history_rows(burns)
    assert len(rows) == 1 and rows[0][-2:] == ["−5", "245"] and "Espresso" in " ".join(rows[0])
    assert burns.one("#history-type option[selected]").get("value") == "burn"
    assert portal.get("/wallet?type=bogus").status_code == 400
    assert portal.get("/wallet?page=-1").status_code == 400


def test_tier_points_history_is_one_choice_away(portal, logged_in, session, org):
    mint(session, org, logged_in, 300, "Shopping spree", account_id=org.program.tier_points_account_id)
    mint(session, org, logged_in, 30, "Coffee")
    session.commit()
    doc = portal.page(f"/wallet?account={org.program.tier_points_account_id}")
    rows = history_rows(doc)
    assert len(rows) == 1 and "Shopping spree" in " ".join(rows[0]) and rows[0][-1] == "300"


def test_another_members_history_is_never_reachable(portal, logged_in, make_member, session, org, other_org):
    neighbour = make_member()
    mint(session, org, neighbour, 999, "Neighbour secret purchase")
    foreign = factories.make_member(session, other_org)
    points.mint_to_member(session, foreign, 555, actor=other_org.actor,
                          reason=Reason(description="Other organisation purchase"))
    session.commit()
    for query in ("", "?page=0", "?type=mint", f"?account={org.program.points_account_id}",
                  f"?account={org.program.tier_points_account_id}"):
        text = portal.get(f"/wallet{query}").get_data(as_text=True)
        assert "Neighbour secret purchase" not in text and "999" not in text
    for account_id in (other_org.program.points_account_id, other_org.program.tier_points_account_id, 10**9):
        response = portal.get(f"/wallet?account={account_id}")
        assert response.status_code == 404
        assert "Other organisation purchase" not in response.get_data(as_text=True)
    assert portal.get("/wallet?account=abc").status_code == 404


def test_points_expiring_soon_come_from_the_expiry_lots(portal, logged_in, session, org):
    account = session.get(LedgerAccount, org.program.points_account_id)
    account.expires_in_months = 12
    session.flush()
    mint(session, org, logged_in, 80, "Old purchase")
    mint(session, org, logged_in, 40, "New purchase")
    burn(session, org, logged_in, 30, "Cake")  # spends the oldest points first
    soon = dt.datetime(2030, 5, 17, 12, tzinfo=dt.timezone.utc)
    wallet = ledger.member_wallet(session, account, logged_in.id)
    oldest = session.scalar(select(func.min(expiry.PointsLot.id)).where(expiry.PointsLot.wallet_id == wallet.id))
    session.execute(update(expiry.PointsLot).where(expiry.PointsLot.id == oldest).values(expires_at=soon))
    session.commit()

    doc = portal.page("/wallet")
    assert doc.text("[data-testid=expiring]") == "None in the next 30 days."

    session.execute(update(expiry.PointsLot).where(expiry.PointsLot.id == oldest)
                    .values(expires_at=expiry.utcnow() + dt.timedelta(days=10)))
    session.commit()
    doc = portal.page("/wallet")
    assert doc.text("[data-testid=expiring]").startswith("50 points expire from ")


def test_wallet_in_german(portal, logged_in, session, org):
    mint(session, org, logged_in, 1234, "Einkauf")
    logged_in.locale = "de"  # the member's own setting wins over the browser's languages
    session.commit()
    doc = portal.page("/wallet", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert doc.text(".tile--main .tile__value") == "1.234"
    assert doc.text("#history-heading") == "Verlauf"
    assert doc.text(".history__summary") == "1 Buchung"
    assert doc.one("html").get("lang") == "de"


def test_the_pages_own_formats_write_what_flask_babel_writes(app, monkeypatch):
    """The wallet page formats its numbers and dates with patterns looked up once a request (bench: Babel's
    lookups per value were a fifth of the page); the text must stay Flask-Babel's, in every language and zone."""
    import flask_babel

    from portal.member.wallet_views import _page_formats

    numbers = [0, 7, -20, 999, 1234, -1234567, 10**12]
    moments = [dt.datetime(2026, 3, 29, 0, 30), dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone.utc),
               dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5))), dt.date(2026, 1, 2)]
    shown = {}
    for zone in ("UTC", "Europe/Berlin", "America/New_York"):
        monkeypatch.setattr(app.extensions["babel"], "timezone_selector", lambda zone=zone: zone)
        for language in ("en", "de"):
            with app.test_request_context("/wallet"), flask_babel.force_locale(language):
                flask_babel.refresh()
                formats = _page_formats()
                assert [formats["format_number"](n) for n in numbers] == [flask_babel.format_number(n)
                                                                          for n in numbers]
                shown[zone, language] = [formats["format_day"](m) for m in moments]
                assert shown[zone, language] == [flask_babel.format_date(m) for m in moments]
    assert [shown[zone, "de"][1] for zone in ("UTC", "Europe/Berlin")] == ["31.12.2026", "01.01.2027"]


def test_the_pages_own_gettext_writes_what_flask_babel_writes(portal, logged_in, session, org, monkeypatch):
    """The wallet page binds gettext and ngettext to the request's translations once (bench: Flask-Babel's
    lookup per message was a fifth of rendering); the page must stay the same, escaping included."""
    import re

    from portal.member import wallet_views

    factories.make_tiers(session, org)
    mint(session, org, logged_in, 120, "Dinner <b>for two</b> & more")
    logged_in.given_name = "Zoë <i>"
    session.commit()
    pages = {}
    for language in ("en", "de"):
        logged_in.locale = language
        session.commit()
        own = portal.get("/wallet").get_data(as_text=True)
        with monkeypatch.context() as patched:
            patched.setattr(wallet_views, "_page_gettext", lambda translations: {})
            environment = portal.get("/wallet").get_data(as_text=True)
        token = re.compile(r'csrf_token" value="[^"]+"')  # signed with the time: differs between requests
        assert token.sub("", own) == token.sub("", environment)
        pages[language] = own
    assert "Verlauf" in pages["de"] and "1 Buchung" in pages["de"] and "1 movement" in pages["en"]
    assert "Zoë &lt;i&gt;" in pages["en"] and "<i>" not in pages["en"]


def test_the_layouts_links_follow_the_script_root(portal, logged_in):
    """The layout's argument-free links are built once per process and script root (`layout_url`): mounted
    under a prefix, the portal links under it; without one, the same process links without it again."""
    def links(**kwargs) -> list[str]:
        doc = portal.page("/wallet", **kwargs)
        return ([doc.one("link[rel=stylesheet]").get("href"), doc.one("a.brand").get("href"),
                 doc.one("form.lang-switch").get("action"), doc.one("form.filters").get("action")]
                + [a.get("href") for a in doc.all(".main-nav a")])

    plain = links()
    assert plain[:4] == ["/static/portal.css", "/", "/language", "/wallet"] and "/card" in plain
    assert links(base_url="http://localhost/loyalty") == ["/loyalty" + url for url in plain]
    assert links() == plain
