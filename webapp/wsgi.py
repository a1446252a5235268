"""WSGI entry point for gunicorn: settings from the environment/config file."""

from __future__ import annotations

import logging

from appliance.audit.stream import stream_events_to_stdout
from appliance.context import build_context
from appliance.ephemeral.store import Sweeper
from appliance.settings import load_settings
from webapp import create_app

_settings = load_settings()
logging.basicConfig(level=_settings.log_level, format="%(levelname)s %(name)s: %(message)s")
stream_events_to_stdout()  # the logbook's JSON lines, for journald and central collection
_context = build_context(_settings)
app = create_app(_context)
# Each worker forgets expired throttle rows, and at midnight (UTC) the day's key with its rows,
# also when no request comes in.
_sweeper = Sweeper(_context.ephemeral).start()
