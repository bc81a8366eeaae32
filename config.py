"""Configuration from the environment. Nothing else in the code reads os.environ."""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("PORTAL_INSTANCE_DIR", BASE_DIR / "instance"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _hosts(value: str) -> list[str]:
    return [host.strip() for host in value.split(",") if host.strip()]


class Config:
    DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.db'}")
    SECRET_KEY = _secret_key()
    PORT = int(os.environ.get("PORT", "5000"))
    # The address people reach the portal at: every absolute link in mails, PDFs, share links and OAuth
    # metadata starts with it (portal/urls.py), never with the request's Host header.
    PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
    # Requests naming any other host get 400 (Flask checks the Host header against this list).
    TRUSTED_HOSTS = _hosts(os.environ.get("TRUSTED_HOSTS", "127.0.0.1,localhost"))
    # Reverse proxies in front of the app servers, counted from the app (README: several app servers).
    # 0, the default: X-Forwarded-For is ignored and the peer address is the client's. N: the last N
    # X-Forwarded-For and X-Forwarded-Proto hops are believed (werkzeug's ProxyFix), so the throttles
    # count the client's address, not the proxy's. Set it only when every request passes the proxies.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    # Seconds a client is told to wait (Retry-After) when the database is unreachable or refuses a write.
    DATABASE_RETRY_AFTER = int(os.environ.get("DATABASE_RETRY_AFTER", "2"))
    # Request bodies above this size get 413 before any parsing.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(1024 * 1024)))
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "") in ("1", "true", "yes")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Portal <no-reply@localhost>")
    # Days the record of a sent mail is kept before the worker deletes it (failed mail stays until seen to).
    MAIL_RECORDS_DAYS = int(os.environ.get("MAIL_RECORDS_DAYS", "30"))
    # The organisation whose member portal this server shows (signup, login); default: the first one.
    PORTAL_ORGANIZATION_ID = os.environ.get("PORTAL_ORGANIZATION_ID") or None
    # Currency shown on coupon values in the member portal (ISO 4217).
    PORTAL_CURRENCY = os.environ.get("PORTAL_CURRENCY", "EUR")
    # Dates in the member portal are shown in this time zone.
    BABEL_DEFAULT_TIMEZONE = os.environ.get("PORTAL_TIMEZONE", "UTC")
    # Failed sign-ins (console and member portal; RELIABILITY: Access). Per account and address
    # together, per hour: then that address is refused for that account, even the right password.
    LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS = int(os.environ.get("LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS", "10"))
    # Per address over all accounts, per hour.
    LOGIN_LIMIT_PER_ADDRESS = int(os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "300"))
    # Failures of one account a minute, from anywhere, after which only addresses that have not
    # failed for it may try (the account slows down; its owner from a new address is let through).
    LOGIN_SLOWDOWN_PER_ACCOUNT = int(os.environ.get("LOGIN_SLOWDOWN_PER_ACCOUNT", "20"))
    # Refused coupon codes per hour: per member, per API key or staff user, per organisation.
    COUPON_CODE_LIMIT_PER_MEMBER = int(os.environ.get("COUPON_CODE_LIMIT_PER_MEMBER", "10"))
    COUPON_CODE_LIMIT_PER_KEY = int(os.environ.get("COUPON_CODE_LIMIT_PER_KEY", "300"))
    COUPON_CODE_LIMIT_PER_ORGANIZATION = int(os.environ.get("COUPON_CODE_LIMIT_PER_ORGANIZATION", "1000"))
    # A purchase sent late (externalEventDate, a till that was offline) earns only within this many days.
    LATE_PURCHASE_DAYS = int(os.environ.get("LATE_PURCHASE_DAYS", "30"))
    # How long a request waits for a coupon another request is using (PostgreSQL), then 503 coupon-busy.
    COUPON_LOCK_WAIT_MS = int(os.environ.get("COUPON_LOCK_WAIT_MS", "5000"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "") in ("1", "true", "yes")
    WTF_CSRF_TIME_LIMIT = None
    # Webhooks: receivers on loopback or private networks are refused unless this is set (tests, intranets).
    WEBHOOK_ALLOW_PRIVATE_URLS = os.environ.get("PORTAL_WEBHOOK_ALLOW_PRIVATE_URLS", "") in ("1", "true", "yes")
    # Seconds for one delivery's whole HTTP exchange, and for a worker's claim on it (longer than the timeout).
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("PORTAL_WEBHOOK_TIMEOUT_SECONDS", "10"))
    WEBHOOK_LEASE_SECONDS = float(os.environ.get("PORTAL_WEBHOOK_LEASE_SECONDS", "60"))
    # How long a process trusts what it read about an API key: a revoked key stops working everywhere within
    # this many seconds (at once in the process that revoked it). 0 reads the key on every request.
    API_KEY_CACHE_SECONDS = float(os.environ.get("API_KEY_CACHE_SECONDS", "5"))
    SQL_ECHO = os.environ.get("SQL_ECHO", "") in ("1", "true")
    # Embeddable signup forms: submissions per hour from one network address (over all forms) and to one
    # form; and how long the signed token in an embedded form (its CSRF protection) stays valid, in seconds.
    SIGNUP_FORM_LIMIT_PER_ADDRESS = int(os.environ.get("SIGNUP_FORM_LIMIT_PER_ADDRESS", "30"))
    SIGNUP_FORM_LIMIT_PER_FORM = int(os.environ.get("SIGNUP_FORM_LIMIT_PER_FORM", "1000"))
    SIGNUP_FORM_TOKEN_MAX_AGE = int(os.environ.get("SIGNUP_FORM_TOKEN_MAX_AGE", "3600"))
    # id_token signing keys of the OAuth provider, generated on first start (`flask --app app oauth rotate-key`).
    OAUTH_SIGNING_KEYS = os.environ.get("OAUTH_SIGNING_KEYS", str(INSTANCE_DIR / "oauth_signing_keys.json"))
    TESTING = False


class TestConfig(Config):
    TESTING = True
    # The test client sends Host: localhost; the live servers (concurrency, browser) listen on 127.0.0.1.
    PORTAL_BASE_URL = "http://localhost"
    TRUSTED_HOSTS = ["localhost", "127.0.0.1"]
    DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SECRET_KEY = "test-secret-key"
    WTF_CSRF_ENABLED = True
    PASSWORD_HASH_FAST = True
