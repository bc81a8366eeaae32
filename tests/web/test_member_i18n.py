"""English and German: how the language is chosen, the switcher, mails in the
recipient's language, the log fallback for mail, and a complete catalogue."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from portal import worker

from .member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401

TRANSLATIONS = Path(__file__).resolve().parents[2] / "portal" / "translations"


def test_the_browser_language_is_used_for_visitors(portal):
    assert portal.page("/signup", headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"}).text(
        "label[for=given_name]") == "Vorname"
    assert portal.page("/signup", headers={"Accept-Language": "fr-FR,en;q=0.5"}).text(
        "label[for=given_name]") == "Given name"
    assert portal.page("/signup", headers={"Accept-Language": "fr-FR"}).text("label[for=given_name]") == "Given name"


def test_a_query_parameter_and_the_switcher_cookie_win_over_the_browser(portal):
    english_browser = {"Accept-Language": "en-GB,en;q=0.9"}
    assert portal.page("/login?lang=de", headers=english_browser).text("h1") == "Anmelden"
    response = portal.submit("/language", {"lang": "de", "next": "/login"}, token_from="/login")
    assert response.status_code == 302 and response.location == "/login"
    assert "lang=de" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    doc = portal.page("/login", headers=english_browser)
    assert doc.text("h1") == "Anmelden" and doc.one("html").get("lang") == "de"
    assert doc.one('button[value="de"]').get("aria-pressed") == "true"
    assert portal.page("/login?lang=en").text("h1") == "Log in"
    # The switcher only sends people back to pages of this site.
    away = portal.submit("/language", {"lang": "de", "next": "https://evil.example/"}, token_from="/login")
    assert away.location == "/"
    assert portal.submit("/language", {"lang": "xx", "next": "/login"}, token_from="/login").location == "/login"
    assert portal.page("/login", headers=english_browser).text("h1") == "Anmelden"  # unknown language ignored


def test_a_members_own_setting_wins_and_the_switcher_changes_it(portal, logged_in, session):
    assert portal.page("/wallet", headers={"Accept-Language": "de"}).text("#history-heading") == "History"
    portal.submit("/language", {"lang": "de", "next": "/wallet"}, token_from="/wallet")
    session.refresh(logged_in)
    assert logged_in.locale == "de"
    assert portal.page("/wallet?lang=en").text("#history-heading") == "Verlauf"
    nav = portal.page("/wallet").texts(".main-nav a")
    assert nav[:2] == ["Punktekonto", "Karte"] and nav[-1] == "Profil"


def test_mail_goes_out_in_the_recipients_language(portal, make_member, mail_sink, session):
    german = make_member(givenName="Jürgen")
    german.locale = "de"
    session.commit()
    portal.submit("/password/forgot", {"email": german.email}, headers={"Accept-Language": "en"})
    [message] = mail_sink.wait_for(german.email)
    assert message.subject == "Passwort zurücksetzen"
    assert message.text.startswith("Hallo Jürgen,")
    assert "Der Link funktioniert einmal und 1 Stunde lang." in message.text
    assert 'lang="de"' in message.html


def test_without_a_mail_server_mail_is_written_to_the_log(portal, member, app, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    with caplog.at_level(logging.INFO, logger="portal.mail"):
        portal.submit("/password/forgot", {"email": member.email})
        worker.send_mail_now()  # the worker's round
    [record] = [r for r in caplog.records if r.name == "portal.mail"]
    text = record.getMessage()
    assert f"To: {member.email}" in text and "http://localhost/password/reset/" in text


def test_every_message_of_the_portal_has_a_german_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    root = TRANSLATIONS.parents[1]
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(TRANSLATIONS / "babel.cfg"), "-k", "_l", "-k", "N_", "--no-location", "-o", str(pot), "."],
                   cwd=root, check=True, capture_output=True)
    with pot.open("rb") as handle:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    with (TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="de")
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    missing = sorted(wanted - set(translated))
    assert not missing, f"run pybabel update and translate: {missing}"
    empty = [key for key, m in translated.items()
             if key in wanted and (not m.string or (not isinstance(m.string, str) and not all(m.string)))]
    assert not empty and not [k for k, m in translated.items() if m.fuzzy and k in wanted]
