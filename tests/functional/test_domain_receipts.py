"""The reporter's receipt and the report form's reference on real databases
(appliance/cases/receipts.py): shown once, wiped when shown or late, bound to its tenant, a form
claimed once; references that are altered, foreign or old are refused."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from appliance.cases.receipts import CLOCK_SKEW, FORM_LIFETIME, SHOW_WITHIN, FormAlreadySent, FormState
from appliance.crypto.case_keys import CaseKey
from appliance.errors import InvalidInput
from appliance.services import Services
from appliance.users.models import WebSession
from tests.functional.conftest import Org
from tests.support import FrozenClock

pytestmark = pytest.mark.one_session


def receipt_rows(services: Services) -> list[WebSession]:
    return list(services.session.execute(sa.select(WebSession).where(WebSession.kind == "receipt")).scalars())


def test_a_receipt_shows_its_key_once_and_keeps_no_plain_copy(services: Services, org_a: Org) -> None:
    receipts = services.report_receipts
    form = receipts.check_form(org_a.tenant.id, receipts.new_form(org_a.tenant.id))
    assert receipts.state(form) is FormState.NEW
    key = CaseKey.new()
    token = receipts.hold(receipts.claim(form), org_a.tenant.id, key)
    [row] = receipt_rows(services)
    assert row.case_id is None and row.user_id is None  # names no case
    assert row.secret_sealed is not None and key.normalised.encode() not in bytes(row.secret_sealed)
    assert token not in repr(form) and receipts.state(form) is FormState.WAITING
    assert receipts.show(uuid.uuid4(), token) is None  # another tenant's portal: nothing, and nothing taken
    assert receipts.show(org_a.tenant.id, token) == key
    assert receipts.show(org_a.tenant.id, token) is None
    assert receipts.state(form) is FormState.RECEIVED and row.secret_sealed is None


def test_a_form_is_claimed_once(services: Services, org_a: Org) -> None:
    receipts = services.report_receipts
    reference = receipts.new_form(org_a.tenant.id)
    receipts.claim(receipts.check_form(org_a.tenant.id, reference))
    with pytest.raises(FormAlreadySent):  # the same form sent again names the same row
        receipts.claim(receipts.check_form(org_a.tenant.id, reference))
    other = receipts.check_form(org_a.tenant.id, receipts.new_form(org_a.tenant.id))
    receipts.claim(other)  # every rendered form has a reference of its own
    assert len(receipt_rows(services)) == 2


def test_a_key_not_shown_in_time_is_wiped_and_the_form_forgotten_later(services: Services, org_a: Org,
                                                                       clock: FrozenClock) -> None:
    receipts = services.report_receipts
    reference = receipts.new_form(org_a.tenant.id)
    form = receipts.check_form(org_a.tenant.id, reference)
    token = receipts.hold(receipts.claim(form), org_a.tenant.id, CaseKey.new())
    clock.advance(seconds=int(SHOW_WITHIN.total_seconds()) + 1)
    assert receipts.show(org_a.tenant.id, token) is None
    assert receipts.state(form) is FormState.RECEIVED and receipt_rows(services)[0].secret_sealed is None
    clock.advance(seconds=int((FORM_LIFETIME + CLOCK_SKEW).total_seconds()))
    with pytest.raises(InvalidInput, match="expired"):
        receipts.check_form(org_a.tenant.id, reference)
    assert receipt_rows(services) == []


def test_altered_foreign_and_future_references_are_refused(services: Services, org_a: Org, org_b: Org,
                                                          clock: FrozenClock) -> None:
    receipts = services.report_receipts
    reference = receipts.new_form(org_a.tenant.id)
    issued, nonce, mac = reference.split(".")
    other_char = "B" if nonce.endswith("A") else "A"  # a nonce changed in one character, whatever it was
    altered = [f"{int(issued) + 1}.{nonce}.{mac}", f"{issued}.{nonce[:-1]}{other_char}.{mac}", f"{issued}.{nonce}.{mac[:-2]}",
               "", "a.b", "x" * 129, f"{issued}.{nonce}.{mac}.extra"]
    for value in altered:
        with pytest.raises(InvalidInput) as refused:
            receipts.check_form(org_a.tenant.id, value)
        assert refused.value.field == "form_ref"
        assert not value or value not in str(refused.value)
    with pytest.raises(InvalidInput):
        receipts.check_form(org_b.tenant.id, reference)
    clock.advance(seconds=-int((CLOCK_SKEW * 2).total_seconds()))  # made by a host whose clock ran ahead
    with pytest.raises(InvalidInput, match="expired"):
        receipts.check_form(org_a.tenant.id, reference)
