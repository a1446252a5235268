"""`appliance person find|export|erase` in subprocesses, as an administrator answers a GDPR
request: nothing identifying on the terminal, in the logbook or in the logs."""

from __future__ import annotations

import json
import stat
import uuid

import pytest
import sqlalchemy as sa

from appliance.audit.models import AuditEvent
from appliance.cases.service import QueueFilter
from appliance.persons.service import clean_details
from appliance.retention.models import LegalHold
from tests.functional import test_cli_keys
from tests.functional.test_cli import PASSWORD, Appliance, in_process, one_line_failure
from tests.functional.test_cli_keys import file_report

appliance = test_cli_keys.appliance  # the same fixture: a tenant and a handler, officer@example.com
MARKER = "Vx9-CLI-PERSON"
SUBJECT = "subject@example.com"


def name_in_every_case(app: Appliance) -> None:
    with in_process(app) as services:
        user = services.users.by_email("officer@example.com")
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        for row in services.cases.queue(principal, QueueFilter()):
            services.case_subjects.add(principal, row.id, clean_details(f"Robin {MARKER}", SUBJECT, "AB 12-34"),
                                       "concerned")


def test_find_export_and_erase_a_person_named_in_cases(appliance: Appliance) -> None:
    file_report(appliance, "first")
    file_report(appliance, "second")
    name_in_every_case(appliance)

    [match] = appliance.json("person", "find", "--email", "-", stdin=SUBJECT.upper() + "\n")
    assert match["scope"] == "example" and match["identifiers"] == ["email", "national_id"]
    assert [(r["kind"], r["table"], r["count"]) for r in match["records"]] == [("case_subject", "case", 2)]
    text = appliance.ok("person", "find", "--national-id", "ab1234")
    assert match["person_id"] in text and "case subject: 2 in case" in text
    assert MARKER not in text and SUBJECT not in text

    out = appliance.cwd / "export.json"
    summary = appliance.json("person", "export", "--email", SUBJECT, "--out", str(out))
    assert summary == {"file": str(out), "persons": 1, "records": 2}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    [person] = json.loads(out.read_text())["persons"]
    assert person["person"]["name"] == f"Robin {MARKER}" and len(person["records"]) == 2
    code, line = appliance.fails("person", "export", "--email", SUBJECT, "--out", str(out))
    assert code == 2 and "already exists" in line

    plan = appliance.json("person", "erase", "--email", SUBJECT, "--dry-run")
    assert plan["erased"] is False and plan["persons"][0]["deleted"]["case_subject"] == 2
    assert appliance.json("person", "find", "--email", SUBJECT)  # the dry run changed nothing

    with in_process(appliance) as services:
        tenant = services.tenants.by_slug("example")
        services.session.add(LegalHold(tenant_id=tenant.id, reference="Matter 7", placed_by="cli",
                                       placed_at=services.ctx.clock()))
    result = appliance.run("person", "erase", "--email", SUBJECT)
    code, line = one_line_failure(result)
    assert code == 3 and "legal hold (Matter 7)" in line
    with in_process(appliance) as services:
        services.session.execute(sa.update(LegalHold).values(released_at=services.ctx.clock()))

    done = appliance.json("person", "erase", "--email", SUBJECT)
    assert done["erased"] is True and done["blocked"] == []
    assert appliance.json("person", "find", "--email", SUBJECT) == []
    code, line = appliance.fails("person", "erase", "--email", SUBJECT)
    assert "no person with this identifier" in line
    vault_copy = json.loads((appliance.data_dir / "backups" / "vault" / "vault.json").read_text())
    assert person["person"]["id"] not in {row["person_id"] for row in vault_copy["shares"]}

    with in_process(appliance) as services:
        events = services.session.execute(sa.select(AuditEvent)).scalars().all()
        assert {"person.recorded", "person.searched", "person.exported", "person.erased"} <= {e.action for e in events}
        logged = " ".join(f"{e.object_id} {e.detail}" for e in events)
    for secret in (MARKER, SUBJECT, "AB1234", "Robin"):
        assert secret not in logged


def test_a_staff_member_is_found_in_the_installation(appliance: Appliance) -> None:
    [match] = appliance.json("person", "find", "--email", "Officer@Example.com")
    assert match["scope"] == "installation" and match["staff_user_id"]
    out = appliance.cwd / "me.json"
    appliance.ok("person", "export", "--id", match["person_id"], "--out", str(out))
    [person] = json.loads(out.read_text())["persons"]
    assert person["records"][0]["account"]["email"] == "officer@example.com"
    assert person["records"][0]["account"]["roles"] == [{"tenant": "example", "role": "handler"}]


@pytest.mark.parametrize(("args", "needle"), [
    (("person", "find"), "give --email or --national-id"),
    (("person", "find", "--email", "not an address"), "email: not an e-mail address"),
    (("person", "find", "--national-id", "<script>"), "national_id: letters and digits only"),
    (("person", "erase", "--id", str(uuid.uuid4())), "person not found"),
    (("person", "erase", "--id", "not-a-uuid"), "not a valid UUID"),
])
def test_bad_requests_fail_with_one_line(appliance: Appliance, args: tuple[str, ...], needle: str) -> None:
    result = appliance.run(*args)
    assert result.returncode != 0
    assert needle in result.stderr and "Traceback" not in result.stderr
