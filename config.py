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


class Config:
    DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.db'}")
    SECRET_KEY = _secret_key()
    PORT = int(os.environ.get("PORT", "5000"))
    # Request bodies above this size get 413 before any parsing.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(1024 * 1024)))
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "") in ("1", "true", "yes")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Portal <no-reply@localhost>")
    # The organisation whose member portal this server shows (signup, login); default: the first one.
    PORTAL_ORGANIZATION_ID = os.environ.get("PORTAL_ORGANIZATION_ID") or None
    # Currency shown on coupon values in the member portal (ISO 4217).
    PORTAL_CURRENCY = os.environ.get("PORTAL_CURRENCY", "EUR")
    # Dates in the member portal are shown in this time zone.
    BABEL_DEFAULT_TIMEZONE = os.environ.get("PORTAL_TIMEZONE", "UTC")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "") in ("1", "true", "yes")
    WTF_CSRF_TIME_LIMIT = None
    # Webhooks: receivers on loopback or private networks are refused unless this is set (tests, intranets).
    WEBHOOK_ALLOW_PRIVATE_URLS = os.environ.get("PORTAL_WEBHOOK_ALLOW_PRIVATE_URLS", "") in ("1", "true", "yes")
    # Seconds for one delivery's whole HTTP exchange, and for a worker's claim on it (longer than the timeout).
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("PORTAL_WEBHOOK_TIMEOUT_SECONDS", "10"))
    WEBHOOK_LEASE_SECONDS = float(os.environ.get("PORTAL_WEBHOOK_LEASE_SECONDS", "60"))
    SQL_ECHO = os.environ.get("SQL_ECHO", "") in ("1", "true")
    TESTING = False


class TestConfig(Config):
    TESTING = True
    DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SECRET_KEY = "test-secret-key"
    WTF_CSRF_ENABLED = True
    PASSWORD_HASH_FAST = True
