"""`appliance api-token create|list|revoke` and the doctor's expiry notice, as the real console
script on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import AuthenticationFailed
from tests.functional.console import Appliance, in_process, initialised_on, one_line_failure


@pytest.fixture
def installed(backend: str, tmp_path: Path) -> Iterator[Appliance]:
    with initialised_on(backend, tmp_path) as app:
        app.ok("tenant", "create", "--name", "Example AB", "--slug", "example")
        app.ok("tenant", "create", "--name", "Other GmbH", "--slug", "other")
        yield app


def test_a_token_is_printed_once_listed_without_its_secret_and_revoked(installed: Appliance) -> None:
    created = installed.json("api-token", "create", "--tenant", "example", "--name", "Hotline desk",
                             "--scope", "reports:intake", "--scope", "stats:read", "--expires-days", "90")
    assert set(created) == {"token", "id"} and created["token"].startswith("apl_")
    plain = installed.ok("api-token", "create", "--tenant", "other", "--name", "Other", "--scope", "insiders:read")
    other_token = plain.splitlines()[0]
    assert other_token.startswith("apl_") and "shown once" in plain

    listed = installed.json("api-token", "list")
    assert {row["name"] for row in listed} == {"Hotline desk", "Other"}
    mine = next(row for row in listed if row["id"] == created["id"])
    assert (mine["tenant"], mine["scopes"], mine["state"]) == ("example", ["reports:intake", "stats:read"], "active")
    assert [row["name"] for row in installed.json("api-token", "list", "--tenant", "other")] == ["Other"]
    for output in (json.dumps(listed), installed.ok("api-token", "list")):
        assert created["token"] not in output and other_token not in output
        assert created["token"].split("_", 2)[2] not in output

    with in_process(installed) as services:
        assert services.api_tokens.authenticate(created["token"]).scopes
    assert "revoked" in installed.ok("api-token", "revoke", created["id"])
    with in_process(installed) as services, pytest.raises(AuthenticationFailed):
        services.api_tokens.authenticate(created["token"])
    assert next(r for r in installed.json("api-token", "list") if r["id"] == created["id"])["state"] == "revoked"


def test_bad_input_is_one_line(installed: Appliance) -> None:
    for args, code in ((("api-token", "create", "--tenant", "example", "--name", "x", "--scope", "reports:read"), 2),
                       (("api-token", "create", "--tenant", "nowhere", "--name", "x", "--scope", "stats:read"), 6),
                       (("api-token", "create", "--tenant", "example", "--name", "x", "--scope", "stats:read",
                         "--expires-days", "0"), 2),
                       (("api-token", "revoke", "not-an-id"), 2),
                       (("api-token", "revoke", "0b1e6c9e-0000-4000-8000-000000000000"), 6)):
        result = installed.run(*args)
        if result.returncode == 2 and "Usage:" in result.stderr:  # click's own refusal of an unknown choice
            continue
        assert one_line_failure(result)[0] == code, args


def doctor_check(app: Appliance, name: str) -> dict[str, str]:
    # A bare test install fails other checks (no reader list); only this one matters here.
    checks: list[dict[str, str]] = json.loads(app.run("doctor", "--json").stdout)["checks"]
    return next(c for c in checks if c["name"] == name)


def test_doctor_names_tokens_that_expire_within_14_days(installed: Appliance) -> None:
    assert doctor_check(installed, "api tokens")["status"] == "ok"
    soon = installed.json("api-token", "create", "--tenant", "example", "--name", "Soon gone", "--scope",
                          "reports:intake", "--expires-days", "10")
    installed.json("api-token", "create", "--tenant", "example", "--name", "Later", "--scope", "reports:intake",
                   "--expires-days", "60")
    check = doctor_check(installed, "api tokens")
    assert check["status"] == "warn" and soon["id"] in check["detail"] and "Soon gone" in check["detail"]
    assert "Later" not in check["detail"] and soon["token"] not in check["detail"]
