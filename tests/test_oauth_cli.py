"""`flask --app app oauth register-app` (used by make partner-demo) and `oauth rotate-key`."""
from __future__ import annotations

import json

from portal.domain import partners
from portal.oauth.keys import KeyStore


def test_register_app_creates_then_renews_the_secret_of_the_same_app(app, session, org):
    runner = app.test_cli_runner()
    args = ["oauth", "register-app", "--org", str(org.id), "--name", "Demo partner", "--redirect-url",
            "http://127.0.0.1:8001/callback", "--scope", "openid profile wallet:read"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    created = json.loads(first.output)
    app_row = session.get(partners.PartnerApp, created["portalId"])
    assert app_row.client_id == created["clientId"] and app_row.check_client_secret(created["clientSecret"])
    assert app_row.auth_valid_scopes == ["openid", "profile", "wallet:read"]
    second = json.loads(runner.invoke(args=args).output)
    session.refresh(app_row)
    assert second["portalId"] == created["portalId"] and second["clientSecret"] != created["clientSecret"]
    assert app_row.check_client_secret(second["clientSecret"]) and not app_row.check_client_secret(
        created["clientSecret"])
    bad = runner.invoke(args=args[:-4] + ["--redirect-url", "http://partner.example/cb"])
    assert bad.exit_code != 0 and "https" in bad.output


def test_rotate_key_without_a_key_file_creates_one_then_rotates(app, tmp_path, monkeypatch):
    keys = KeyStore(tmp_path / "sub" / "keys.json")
    monkeypatch.setitem(app.extensions, "portal_oauth_keys", keys)
    result = app.test_cli_runner().invoke(args=["oauth", "rotate-key"])
    assert result.exit_code == 0 and "2 key(s)" in result.output
    assert (tmp_path / "sub" / "keys.json").stat().st_mode & 0o777 == 0o600
