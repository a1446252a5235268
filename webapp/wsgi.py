"""WSGI entry point for gunicorn: settings from the environment/config file."""

from __future__ import annotations

import logging

from appliance.audit.stream import stream_events_to_stdout
from appliance.context import build_context
from appliance.settings import load_settings
from webapp import create_app

_settings = load_settings()
logging.basicConfig(level=_settings.log_level, format="%(levelname)s %(name)s: %(message)s")
stream_events_to_stdout()  # the logbook's JSON lines, for journald and central collection
app = create_app(build_context(_settings))
