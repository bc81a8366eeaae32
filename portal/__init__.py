"""Portal: an open-source loyalty platform. create_app() wires the three faces."""
from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from config import INSTANCE_DIR, Config

from .domain import models  # noqa: F401  (all tables registered)
from .domain import coupons, orders, passwords, throttle
from .extensions import csrf, db, htmx, login_manager

STRICT_TRANSPORT_SECURITY = "max-age=31536000"  # a year; sent only when SESSION_COOKIE_SECURE is on
# Every response's policy, with `frame-ancestors 'none'` added unless a page sets its own
# (only the embeddable signup form does: portal/embed/views.py). Scripts: 'self' only, never inline.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"


# The page a browser gets while the database is unavailable: no template, as rendering one may itself need
# the database (the signed-in user, the organisation's name).
DATABASE_UNAVAILABLE_PAGE = ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Try again shortly</title>"
                             "<h1>Try again shortly</h1><p>The service is briefly unavailable and nothing was saved. "
                             "Please try again in a moment.</p></html>")

# throttle.LIMITS name -> config.py setting.
THROTTLE_SETTINGS = {"login-account-address": "LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS",
                     "login-address": "LOGIN_LIMIT_PER_ADDRESS", "login-account-slowdown": "LOGIN_SLOWDOWN_PER_ACCOUNT",
                     "code-member": "COUPON_CODE_LIMIT_PER_MEMBER", "code-actor": "COUPON_CODE_LIMIT_PER_KEY",
                     "code-organization": "COUPON_CODE_LIMIT_PER_ORGANIZATION"}


def create_app(config: type | dict | None = None) -> Flask:
    app = Portal(__name__, instance_path=str(INSTANCE_DIR))
    app.session_interface = SessionInterface()
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    if app.config.get("PASSWORD_HASH_FAST"):
        passwords.use_fast_hashing()
    throttle.configure({name: app.config[setting] for name, setting in THROTTLE_SETTINGS.items()})
    orders.configure(late_purchase_days=app.config["LATE_PURCHASE_DAYS"])
    coupons.configure(lock_wait_ms=app.config["COUPON_LOCK_WAIT_MS"])

    if app.config.get("TRUSTED_PROXIES"):
        hops = app.config["TRUSTED_PROXIES"]
        # The client's address (throttles) and scheme from the last `hops` proxies; Host is not taken
        # from them (TRUSTED_HOSTS checks it as sent, and links use PORTAL_BASE_URL).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    db.init_app(app)
    _csrf_check(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    _remember_cookie(app)

    from . import api, auth, cli, console, embed, i18n, mail, member, oauth, urls

    i18n.init_app(app)
    mail.init_app(app)
    urls.init_app(app)
    auth.init_app(app)
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.docs_bp)
    app.register_blueprint(api.images_bp)  # barcode images: no token, see portal/api/barcodes.py
    app.register_blueprint(console.bp)
    app.register_blueprint(member.bp)
    csrf.exempt(embed.bp)  # its own signed token: a cookie would be dropped inside a partner's iframe
    app.register_blueprint(embed.bp)
    oauth.init_app(app)  # /oauth/*, /.well-known/openid-configuration
    cli.init_app(app)
    _error_handlers(app)
    _security_headers(app)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


class Portal(Flask):
    """Flask, with what it would ask again on every request asked once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._plain_callables: set = set()

    def ensure_sync(self, func):
        """Flask asks for every hook and the view of every request whether it is a coroutine function (`inspect`,
        six times a request); the answer for a callable never changes, so a plain one is remembered."""
        try:
            if func in self._plain_callables:
                return func
        except TypeError:  # an unhashable callable: asked every time
            return super().ensure_sync(func)
        wrapped = super().ensure_sync(func)
        if wrapped is func and len(self._plain_callables) < 1024:  # the app's hooks and views: a fixed set
            self._plain_callables.add(func)
        return wrapped


def _csrf_check(app: Flask) -> None:
    """Flask-WTF's check of every form post, its own hook replaced by one that leaves first when the method is one
    it never checks (a GET, the health check): Flask-WTF looks up the view's exemption before the method."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # Flask-WTF's hook returns at once; this one checks instead
    csrf.init_app(app)

    @app.before_request
    def csrf_protect():
        if request.method in app.config["WTF_CSRF_METHODS"] and app.config["WTF_CSRF_ENABLED"]:
            csrf.protect(apply_exemptions=True)


def _remember_cookie(app: Flask) -> None:
    """Flask-Login's after-request hook (a remember-me cookie to set or clear), skipped where there is no session
    to hold the instruction (the API, the health check: `SessionInterface`)."""
    hooks = app.after_request_funcs[None]
    update = login_manager._update_remember_cookie

    def remember_cookie(response):
        if request.path.startswith(SessionInterface.COOKIELESS):
            return response
        return update(response)

    hooks[hooks.index(update)] = remember_cookie


def _error_handlers(app: Flask) -> None:
    from .api.core import problem_response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            db.session.rollback()
            # Keep the exception's own headers (Allow on a 405) but not its HTML content type.
            headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
            return problem_response(error.code or 500, error.name, error.description or error.name, headers=headers)
        return error

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception):
        """The database went away (a restart, a killed connection, a full pool) or refused to write (a full
        disk, a read-only file): 503 with Retry-After, nothing of the request kept. The pool has already
        dropped a dead connection (and pool_pre_ping tests the others), so a retry gets a fresh one."""
        if isinstance(error, DBAPIError) and not (isinstance(error, OperationalError)
                                                  or error.connection_invalidated):
            return unexpected(error)  # a constraint or a programming error is a bug, not an outage
        try:
            db.session.rollback()
        except Exception:  # the connection may be gone; the session is discarded at teardown anyway
            app.logger.warning("rollback after a database error failed", exc_info=True)
        app.logger.error("database unavailable: %s", str(error).splitlines()[0] if str(error) else type(error))
        headers = {"Retry-After": str(app.config["DATABASE_RETRY_AFTER"])}
        if request.path.startswith("/api/"):
            return problem_response(503, "Database unavailable",
                                    "The database could not complete this request; nothing was written. "
                                    "Try again shortly.", headers=headers)
        return (DATABASE_UNAVAILABLE_PAGE, 503, {**headers, "Content-Type": "text/html; charset=utf-8"})

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        if request.path.startswith("/api/"):
            return problem_response(500, "Internal error", "Something went wrong; nothing was written")
        return "Internal error", 500


def _security_headers(app: Flask) -> None:
    always = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"))
    unframed = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"
    ours = {"x-content-type-options", "referrer-policy", "content-security-policy", "x-frame-options",
            "strict-transport-security"}
    # What almost every response gets: none of these set by the view. Appended as they are (constant, valid
    # values: werkzeug's `add` would check each one again on every request).
    plain = [*always, ("Content-Security-Policy", unframed), ("X-Frame-Options", "DENY")]
    secure = [*plain, ("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)]

    @app.after_request
    def headers(response):
        headers = response.headers
        for name, _value in headers._list:
            if name.lower() in ours:
                break
        else:
            headers._list.extend(secure if app.config.get("SESSION_COOKIE_SECURE") else plain)
            return response
        # Each header unless the response set its own (one pass over the headers, not a lookup per header).
        present = {name.lower() for name, _value in headers.items()}
        for name, value in always:
            if name.lower() not in present:
                headers.add(name, value)
        if "content-security-policy" in present:
            framed = "frame-ancestors 'none'" not in headers["Content-Security-Policy"]
        else:
            headers.add("Content-Security-Policy", unframed)
            framed = False
        if not framed and "x-frame-options" not in present:
            # For browsers without CSP 2; a page that partners may frame must not send it.
            headers.add("X-Frame-Options", "DENY")
        if app.config.get("SESSION_COOKIE_SECURE") and "strict-transport-security" not in present:
            # Served over HTTPS only (secure cookies say so): browsers must not fall back to HTTP.
            headers.add("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response


class SessionInterface(SecureCookieSessionInterface):
    """The browser session (a signed cookie), except for the JSON API and the health check: those are
    authorised by a bearer token or by nothing, and never read the session, so they open none (Flask gives them
    its empty null session) and answer without `Vary: Cookie`. The cookie's serializer is made once per secret
    key instead of on every request."""

    COOKIELESS = ("/api/v1/", "/healthz")

    def __init__(self) -> None:
        self._serializers: dict = {}

    def open_session(self, app: Flask, request):
        if request.path.startswith(self.COOKIELESS):
            return None
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()), self.salt,
               app.config.get("SESSION_COOKIE_NAME"))
        if key not in self._serializers:
            self._serializers = {key: super().get_signing_serializer(app)}
        return self._serializers[key]
