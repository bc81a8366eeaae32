from flask import render_template_string

from . import bp


@bp.get("/login")
def login():
    return render_template_string("login")
