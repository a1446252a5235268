"""Helpers for the API's tests: tokens made as the CLI makes them, a test client per client
address, report bodies and problem checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appliance.actors import CLI
from appliance.services import Services
from tests.functional.world import World

PROBLEM = "application/problem+json"
TYPES = "https://appliance.invalid/problems/"


def issue(world: World, slug: str = "alpha", scopes: tuple[str, ...] = ("reports:intake",),
          days: int | None = None) -> tuple[str, str]:
    """(token, id) of a new token, made as the CLI makes it."""
    with world.ctx.unit_of_work() as session:
        services = Services(world.ctx, session)
        tenant = services.tenants.by_slug(slug)
        issued = services.api_tokens.create(tenant.id, f"{slug} desk", list(scopes), days, CLI)
        return issued.token, str(issued.view.id)


def client(world: World, app: Flask | None = None, address: str = "198.51.100.7") -> FlaskClient:
    test_client = (app or world.app).test_client()
    test_client.environ_base["REMOTE_ADDR"] = address
    return test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def report_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {"category": str(world.alpha.category_id), "what": "Told us by phone about invoices.", "when": "May",
            "where": "Depot", "who": "A buyer", "contact": "", "channel": "phone",
            "received_at": (world.clock() - dt.timedelta(hours=3)).isoformat(), **overrides}


def assert_problem(response: TestResponse, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json(force=True)
    assert body["type"] == TYPES + slug and body["status"] == status and body["title"]
    assert "Set-Cookie" not in response.headers
    return body
