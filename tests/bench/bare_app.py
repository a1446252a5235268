"""The baseline of `./scripts/bench web`: a bare Flask page, served by gunicorn under the same
settings as `appliance serve` (appliance/cli/ops.py, gunicorn_command)."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)

PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Report</title></head>"
        "<body><main><h1>Report a concern</h1><p>A bare Flask page.</p></main></body></html>")


@app.get("/")
def page() -> str:
    return PAGE
