"""WSGI entry point for gunicorn: settings from the environment/config file."""

from __future__ import annotations

import logging

from appliance.context import build_context
from appliance.settings import load_settings
from webapp import create_app

_settings = load_settings()
logging.basicConfig(level=_settings.log_level, format="%(levelname)s %(name)s: %(message)s")
app = create_app(build_context(_settings))
