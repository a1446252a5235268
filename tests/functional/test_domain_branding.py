"""A tenant's portal branding on real databases: set, shown only while it verifies, every change
announced in the logbook without its content, and a branding changed in SQL refused until reset."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.db import GUID
from appliance.errors import BrandingTampered, InvalidInput, NotFound
from appliance.services import Services
from appliance.tenants.models import TenantBranding
from tests.functional.branding_support import logo_jpeg, logo_png
from tests.functional.conftest import Org

pytestmark = pytest.mark.one_session

INTRO = "Report here.\n\nOur ombudsman answers within a week."
NOTICE = "Alpha AB is the controller.\n\nWrite to privacy@alpha.example."
LINK = "https://intranet.alpha.example/policy"


def sql(services: Services, statement: str, **params: object) -> None:
    """A DBA's statement; ``t`` is a tenant id (bound as the GUID type each backend stores)."""
    services.session.execute(sa.text(statement).bindparams(sa.bindparam("t", type_=GUID)), params)


def test_a_branding_is_set_read_and_announced_without_its_content(services: Services, org_a: Org) -> None:
    branding = services.branding
    assert branding.portal(org_a.tenant.id) is None  # nothing set: the portal's own texts
    branding.set_texts(org_a.tenant.id, INTRO, NOTICE, LINK, CLI)
    branding.set_logo(org_a.tenant.id, logo_png((90, 30)), CLI)
    shown = branding.portal(org_a.tenant.id)
    assert shown is not None
    assert (shown.intro, shown.privacy_notice, shown.policy_url, shown.policy_host) == (
        INTRO, NOTICE, LINK, "intranet.alpha.example")
    assert (shown.logo_type, shown.logo_width, shown.logo_height, shown.version) == ("image/png", 90, 30, 2)
    found = branding.logo(org_a.tenant.id)
    assert found is not None and found[0].startswith(b"\x89PNG") and found[1].logo_etag == shown.logo_etag
    branding.remove_logo(org_a.tenant.id, CLI)
    assert branding.logo(org_a.tenant.id) is None
    details = list(services.session.execute(sa.select(AuditEvent.action, AuditEvent.detail).where(
        AuditEvent.tenant_id == org_a.tenant.id, AuditEvent.action.like("tenant.branding%")).order_by(AuditEvent.seq)))
    assert details == [("tenant.branding_changed", "v=1 part=texts"), ("tenant.branding_changed", "v=2 part=logo"),
                       ("tenant.branding_changed", "v=3 part=logo-removed")]


def test_empty_texts_fall_back_and_bad_input_changes_nothing(services: Services, org_a: Org) -> None:
    branding = services.branding
    branding.set_texts(org_a.tenant.id, INTRO, "", LINK, CLI)
    for intro, notice, link in [("x" * 4001, "", ""), ("", "x" * 20001, ""), ("", "", "javascript:alert(1)"),
                                ("", "", "http://alpha.example/"), ("a\x00b", "", "")]:
        with pytest.raises(InvalidInput):
            branding.set_texts(org_a.tenant.id, intro, notice, link, CLI)
    for data in (b"<svg onload=alert(1)>", b"GIF89a....", logo_png()[:50]):
        with pytest.raises(InvalidInput):
            branding.set_logo(org_a.tenant.id, data, CLI)
    shown = branding.portal(org_a.tenant.id)
    assert shown is not None and (shown.intro, shown.privacy_notice, shown.policy_url, shown.version) == (
        INTRO, None, LINK, 1)


def test_the_stored_logo_is_the_re_encoded_copy(services: Services, org_a: Org) -> None:
    uploaded = logo_jpeg(exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00Author Marker")
    services.branding.set_logo(org_a.tenant.id, uploaded, CLI)
    stored = services.session.execute(sa.select(TenantBranding.logo, TenantBranding.logo_digest).where(
        TenantBranding.tenant_id == org_a.tenant.id)).one()
    assert stored.logo != uploaded and b"Author Marker" not in stored.logo and stored.logo.startswith(b"\xff\xd8\xff")
    assert hashlib.sha256(stored.logo).digest() == stored.logo_digest


@pytest.mark.parametrize(("statement", "what"), [
    ("UPDATE tenant_branding SET policy_url = 'https://phish.example/login' WHERE tenant_id = :t", "link"),
    ("UPDATE tenant_branding SET intro = 'Enter your name and staff number below.' WHERE tenant_id = :t", "intro"),
    ("UPDATE tenant_branding SET privacy_notice = NULL WHERE tenant_id = :t", "notice"),
    ("UPDATE tenant_branding SET version = version + 5 WHERE tenant_id = :t", "version"),
    ("UPDATE tenant_branding SET logo_width = 1200 WHERE tenant_id = :t", "logo size"),
    ("UPDATE tenant_branding SET mac = NULL WHERE tenant_id = :t", "mac"),
    ("DELETE FROM tenant_branding WHERE tenant_id = :t", "row"),
], ids=["link", "intro", "notice", "version", "logo-size", "mac", "deleted"])
def test_a_branding_changed_in_sql_is_not_shown_and_not_signed_over(services: Services, org_a: Org, statement: str,
                                                                     what: str) -> None:
    branding = services.branding
    branding.set_texts(org_a.tenant.id, INTRO, NOTICE, LINK, CLI)
    branding.set_logo(org_a.tenant.id, logo_png(), CLI)
    if what == "mac":  # the column is NOT NULL: a DBA writes another tag instead
        statement = "UPDATE tenant_branding SET mac = :m WHERE tenant_id = :t"
        sql(services, statement, t=org_a.tenant.id, m=b"\x00" * 32)
    else:
        sql(services, statement, t=org_a.tenant.id)
    state = branding.state(org_a.tenant.id)
    assert state.branding is None and state.problem, what
    assert branding.portal(org_a.tenant.id) is None and branding.logo(org_a.tenant.id) is None
    assert org_a.tenant.id in branding.problems()
    for change in (lambda: branding.set_texts(org_a.tenant.id, "new", "", "", CLI),
                   lambda: branding.set_logo(org_a.tenant.id, logo_png(), CLI),
                   lambda: branding.remove_logo(org_a.tenant.id, CLI)):
        with pytest.raises(BrandingTampered):
            change()
    branding.reset(org_a.tenant.id, CLI)
    assert branding.state(org_a.tenant.id).problem is None
    after = branding.portal(org_a.tenant.id)
    assert after is not None and (after.intro, after.policy_url, after.logo_etag) == (None, None, None)
    assert org_a.tenant.id not in branding.problems()
    branding.set_texts(org_a.tenant.id, "Fresh intro", "", "", CLI)
    assert (branding.portal(org_a.tenant.id) or after).intro == "Fresh intro"


def test_swapped_logo_bytes_an_older_row_and_another_tenants_row_do_not_verify(services: Services, org_a: Org,
                                                                                 org_b: Org) -> None:
    branding = services.branding
    branding.set_logo(org_a.tenant.id, logo_png(), CLI)
    sql(services, "UPDATE tenant_branding SET logo = :l WHERE tenant_id = :t", l=logo_png((120, 40), (255, 0, 0, 255)),
        t=org_a.tenant.id)
    assert branding.logo(org_a.tenant.id) is None and branding.portal(org_a.tenant.id) is None  # not the bytes the MAC covers
    branding.reset(org_a.tenant.id, CLI)

    # An older, genuine row put back: its MAC verifies, but the logbook announced a newer version.
    branding.set_texts(org_a.tenant.id, "Old intro", "", "https://old.alpha.example/", CLI)
    old = services.session.execute(sa.select(TenantBranding.__table__).where(
        TenantBranding.tenant_id == org_a.tenant.id)).one()._asdict()
    branding.set_texts(org_a.tenant.id, "New intro", "", "https://new.alpha.example/", CLI)
    services.session.execute(sa.update(TenantBranding.__table__).where(
        TenantBranding.tenant_id == org_a.tenant.id).values({k: v for k, v in old.items() if k != "tenant_id"}))
    assert branding.state(org_a.tenant.id).problem == "an older branding was put back"
    assert branding.portal(org_a.tenant.id) is None

    # Alpha's row copied to beta (tenant id rewritten): the MAC binds the tenant.
    branding.reset(org_a.tenant.id, CLI)
    branding.set_texts(org_a.tenant.id, "Alpha intro", "", "", CLI)
    row = services.session.execute(sa.select(TenantBranding.__table__).where(
        TenantBranding.tenant_id == org_a.tenant.id)).one()._asdict()
    services.session.execute(sa.insert(TenantBranding.__table__).values({**row, "tenant_id": org_b.tenant.id}))
    assert branding.portal(org_b.tenant.id) is None and branding.state(org_b.tenant.id).problem
    assert branding.portal(org_a.tenant.id) is not None


def test_unknown_tenants_are_not_found(services: Services) -> None:
    import uuid

    with pytest.raises(NotFound):
        services.branding.set_texts(uuid.uuid4(), "x", "", "", CLI)
    with pytest.raises(NotFound):
        services.branding.reset(uuid.uuid4(), CLI)
