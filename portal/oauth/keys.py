"""The provider's signing keys for id_tokens: RS256, kept in one JSON file in the instance folder.

The first start generates a key. `flask --app app oauth rotate-key` adds a new
one that signs from then on; the old key stays in the published JWKS until the
last id_token it signed has expired (ID_TOKEN_LIFETIME after its retirement),
then rotation drops it. Several workers may start at once: the first file
written wins (link, not overwrite), and every process rereads the file when it
changes, so a rotation reaches running servers without a restart.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from joserfc.jwk import KeySet, RSAKey

from ..domain.base import isoformat, utcnow
from ..domain.partners import ID_TOKEN_LIFETIME

ALGORITHM = "RS256"
KEY_SIZE = 2048


class KeyStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cache: tuple[float, list[dict]] | None = None

    def ensure(self) -> None:
        """Generate the first key unless the file exists."""
        if not self.path.exists():
            self._write([_new_entry()], replace=False)

    def signing_key(self) -> RSAKey:
        """The key that signs now: the newest not retired."""
        current = [e for e in self._entries() if not e.get("retiredAt")]
        return RSAKey.import_key(current[-1]["jwk"])

    def public_jwks(self, now: dt.datetime | None = None) -> dict:
        """Public halves of the signing key and of retired keys whose id_tokens may still be valid."""
        keys = [RSAKey.import_key(e["jwk"]) for e in self._entries() if _published(e, now or utcnow())]
        return {"keys": [key.as_dict(private=False) | {"kid": key.kid} for key in keys]}

    def verification_keys(self) -> KeySet:
        return KeySet([RSAKey.import_key(e["jwk"]) for e in self._entries() if _published(e, utcnow())])

    def rotate(self, now: dt.datetime | None = None) -> str:
        """Retire the signing key, add a new one, drop keys no valid id_token can need. Returns the new kid."""
        now = now or utcnow()
        entries = [e for e in self._entries() if _published(e, now)]
        for entry in entries:
            entry.setdefault("retiredAt", None)
            if not entry["retiredAt"]:
                entry["retiredAt"] = isoformat(now)
        fresh = _new_entry()
        self._write(entries + [fresh], replace=True)
        return fresh["jwk"]["kid"]

    def _entries(self) -> list[dict]:
        self.ensure()
        mtime = self.path.stat().st_mtime
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, json.loads(self.path.read_text())["keys"])
        return [dict(e) for e in self._cache[1]]

    def _write(self, entries: list[dict], *, replace: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump({"keys": entries}, handle, indent=1)
            os.chmod(tmp, 0o600)
            if replace:
                os.replace(tmp, self.path)
            else:
                try:
                    os.link(tmp, self.path)  # fails if another process wrote it first: theirs wins
                except FileExistsError:
                    pass
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._cache = None


def _new_entry() -> dict:
    key = RSAKey.generate_key(KEY_SIZE, parameters={"alg": ALGORITHM, "use": "sig"}, private=True, auto_kid=True)
    return {"jwk": key.as_dict(private=True) | {"kid": key.kid}, "createdAt": isoformat(utcnow()), "retiredAt": None}


def _published(entry: dict, now: dt.datetime) -> bool:
    retired = entry.get("retiredAt")
    if not retired:
        return True
    return dt.datetime.fromisoformat(retired.replace("Z", "+00:00")) + ID_TOKEN_LIFETIME > now
