"""The app as app.py makes it, with the pause point FAULT_PAUSE installed (tests/faults/pause.py).
For servers and workers started by the fault tests only: `gunicorn tests.faults.hooked_app:app`,
`flask --app tests.faults.hooked_app worker`."""
from portal import create_app
from tests.faults.pause import install_from_environment

install_from_environment()
app = create_app()
