"""Form of the member's referrals page: shape only (whether a code may be handed out is the referrals engine's)."""
from __future__ import annotations

from flask_wtf import FlaskForm


class CodeForm(FlaskForm):
    """The "get my code" button: only the CSRF token."""
