"""The embeddable signup form in real Chromium, on partner pages served from other origins.

The portal runs on 127.0.0.1:<port>; each partner page is a tiny site on another loopback port (an
origin differs by port). The form's allowed origin gets the form in a frame that fits its content,
and a submission there creates the member; any other origin gets nothing: the browser refuses to
frame the form.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from portal.domain import signup_forms
from portal.domain.members import Member
from portal.domain.signup_forms import SignupFormEntry

PARTNER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner shop</title>
<style>body {{ font-family: sans-serif; margin: 2rem; background: #fdf6e3; }} .box {{ max-width: 42rem; }}</style>
</head><body>
<h1>Partner shop</h1>
<p>Join our partner's coffee club and get a card:</p>
<div class="box">
<script src="{portal}/embed/signup.js" data-form="{public_id}" data-title="Coffee club signup" async></script>
</div>
<p id="after">Our shop's footer.</p>
</body></html>"""


class PartnerSite:
    """A page on its own loopback origin that embeds the form the way a partner would."""

    def __init__(self, portal: str):
        self.portal, self.public_id = portal, ""
        self.server = make_server("127.0.0.1", 0, self.app)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="partner-site", daemon=True)
        self.thread.start()

    def app(self, environ, start_response):
        if environ["PATH_INFO"] == "/thanks":
            html = "<!doctype html><title>Thanks</title><h1>Thanks from the partner shop</h1>"
        else:
            html = PARTNER_PAGE.format(portal=self.portal, public_id=self.public_id)
        return Response(html, mimetype="text/html")(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def partners(live_url):
    allowed, foreign = PartnerSite(live_url), PartnerSite(live_url)
    yield allowed, foreign
    allowed.stop()
    foreign.stop()


@pytest.fixture
def signup_form(seed, partners):
    allowed, foreign = partners
    bundle = seed.org("Embed Coffee")
    with seed.session() as session:
        form = signup_forms.create_form(
            session, bundle.id, actor=bundle.actor, name="Join the Coffee Club", purpose="loyalty_card",
            fields=[{"key": "profile.givenName", "required": True}, {"key": "profile.city"}],
            consents=[{"key": "terms", "text": "I accept the club rules", "required": True},
                      {"key": "email", "text": "Send me offers by email"}],
            thank_you_text="Welcome to the club! Your card is on its way by email.",
            allowed_origins=[allowed.origin])
    allowed.public_id = foreign.public_id = form.public_id
    return form


def member_with(seed, email: str) -> Member | None:
    with seed.session() as session:
        return session.scalars(select(Member).where(Member.email == email)).first()


@pytest.mark.browser
def test_the_form_works_on_an_allowed_partner_page(page, live_url, seed, partners, signup_form, screenshot):
    allowed, _ = partners
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    email = f"embed-{uuid.uuid4().hex[:8]}@example.com"

    page.goto(allowed.origin + "/")
    frame_element = page.locator("iframe.portal-signup-frame")
    expect(frame_element).to_have_attribute("title", "Coffee club signup")
    form = page.frame_locator("iframe.portal-signup-frame")
    expect(form.get_by_role("heading", level=1)).to_have_text("Join the Coffee Club")
    # The frame takes the height of its content (the script's default is 40rem = 640px).
    expect(frame_element).not_to_have_attribute("style", "display: block; width: 100%; max-width: 40rem; "
                                                        "height: 40rem; border: 0px;")
    content = form.locator("main").evaluate("main => Math.ceil(main.getBoundingClientRect().height)")
    assert abs(frame_element.bounding_box()["height"] - content) <= 2, (frame_element.bounding_box(), content)
    screenshot(page, "embed-partner-page")

    # Sent empty: every required field says so, inside the frame, which grows to show it.
    before = frame_element.bounding_box()["height"]
    form.get_by_role("button", name="Sign up").click()
    expect(form.locator(".error-summary")).to_be_visible()
    expect(form.locator("#profile-email-error")).to_contain_text("This field is required")
    expect(form.locator("#profile-givenName-error")).to_contain_text("This field is required")
    expect(form.locator("#consents-terms-error")).to_contain_text("Please agree to this to sign up")
    _wait_until(page, lambda: frame_element.bounding_box()["height"] > before)
    screenshot(page, "embed-partner-page-errors")

    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Given name").fill("Paula")
    form.get_by_label("City (optional)").fill("Leipzig")
    form.get_by_label("I accept the club rules").check()
    form.get_by_role("button", name="Sign up").click()
    expect(form.get_by_role("status")).to_contain_text("Welcome to the club!")
    screenshot(page, "embed-partner-page-thanks")

    member = member_with(seed, email)
    assert member is not None and member.given_name == "Paula" and member.city == "Leipzig"
    assert member.optins == {"email": False, "sms": False}
    with seed.session() as session:
        entry = session.scalars(select(SignupFormEntry).where(SignupFormEntry.member_id == member.id)).one()
        assert entry.form_id == signup_form.id
    assert not problems, problems


@pytest.mark.browser
def test_a_bot_filling_the_honeypot_gets_thanks_and_no_member(page, live_url, seed, partners, signup_form):
    allowed, _ = partners
    form, email = _fill_signup_on(page, allowed.origin, given_name="Robot")
    # People neither see nor reach the trap; a bot fills every input it finds.
    trap = form.locator("input[name=website]")
    expect(trap).not_to_be_in_viewport()
    trap.fill("http://spam.example", force=True)
    form.get_by_role("button", name="Sign up").click()
    expect(form.get_by_role("status")).to_contain_text("Welcome to the club!")
    assert member_with(seed, email) is None


@pytest.mark.browser
def test_another_origin_cannot_frame_the_form(page, live_url, seed, partners, signup_form, screenshot):
    _, foreign = partners
    messages = []
    page.on("console", lambda m: messages.append(m.text))
    page.goto(foreign.origin + "/")
    frame_element = page.locator("iframe.portal-signup-frame")
    expect(frame_element).to_be_attached()  # the script ran and inserted the frame ...
    _wait_until(page, lambda: any("frame-ancestors" in m for m in messages))
    refusal = next(m for m in messages if "frame-ancestors" in m)
    assert f"frame-ancestors {partners[0].origin}" in refusal and live_url in refusal
    # ... but the browser shows nothing of the form in it, and no frame of the page holds the form.
    # Chromium puts its error page in the frame instead.
    assert frame_element.element_handle().content_frame().url == "chrome-error://chromewebdata/"
    for frame in page.frames:
        assert frame.locator("input[name='profile.email']").count() == 0, frame.url
    screenshot(page, "embed-foreign-page-refused")

    # The same page of the portal opened directly (not framed) works: only framing was refused.
    page.goto(f"{live_url}/embed/signup/{signup_form.public_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join the Coffee Club")


@pytest.mark.browser
def test_a_form_with_a_redirect_sends_the_partner_page_on(page, live_url, seed, partners, signup_form):
    allowed, _ = partners
    with seed.session() as session:
        form = session.get(signup_forms.SignupForm, signup_form.id)
        signup_forms.update_form(session, form, actor=signup_forms.system_actor(form.organization_id),
                                 redirect_url=f"{allowed.origin}/thanks")
    form, email = _fill_signup_on(page, allowed.origin, given_name="Rita")
    form.get_by_role("button", name="Sign up").click()
    # The frame tells the page (and only it) where to go; the partner's script takes the whole page there.
    expect(page).to_have_url(f"{allowed.origin}/thanks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thanks from the partner shop")
    assert member_with(seed, email) is not None


def _fill_signup_on(page, origin: str, given_name: str):
    """Open the partner page at `origin` and fill the framed signup form's required fields, without sending it.

    Returns the frame and the new e-mail address it was filled with."""
    email = f"{given_name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(origin + "/")
    form = page.frame_locator("iframe.portal-signup-frame")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Given name").fill(given_name)
    form.get_by_label("I accept the club rules").check()
    return form, email


def _wait_until(page, condition, timeout: float = 10) -> None:
    """Poll through Playwright (its events, such as console messages, arrive while it waits)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(50)
