"""Closing at triage: a report that is spam, or repeats one already made, is closed from RECEIVED
without an acknowledgement (Directive 2019/1937 Art. 9(1)(b) asks one for a report; these are
not reports to follow up). A duplicate names the earlier case by its reference.

The earlier case must be one the handler could open themselves: of the same tenant as the case
closed, and readable with a key of their own. An unknown reference, one of another tenant and one
the handler holds no key to all get the same answer, so the form tells nobody whether a case
exists elsewhere.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from appliance.actors import StaffPrincipal
from appliance.cases.models import Case
from appliance.cases.queue import readable_ids
from appliance.cases.read_models import DuplicateOf
from appliance.crypto.case_keys import CROCKFORD
from appliance.errors import InvalidInput

REFERENCE = re.compile(f"[{CROCKFORD}]{{4}}-[{CROCKFORD}]{{4}}")  # as reporting.py makes them
MAX_REFERENCE_INPUT = 40
# The reasons of the InvalidInput("duplicate_of", ...) this module and close_at_triage raise.
MALFORMED = "a case reference is XXXX-XXXX"
NO_SUCH_CASE = "no case you can open has this reference"
ITSELF = "a case cannot be a duplicate of itself"
NOT_A_DUPLICATE = "only a duplicate names another case"


def parse_reference(value: str) -> str:
    """A whole case reference as stored (``XXXX-XXXX``, upper case; typed without the dash or
    with spaces is fine); InvalidInput for anything else."""
    if len(value) > MAX_REFERENCE_INPUT:
        raise InvalidInput("duplicate_of", MALFORMED)
    term = "".join(value.split()).upper()
    if len(term) == 8 and "-" not in term:
        term = f"{term[:4]}-{term[4:]}"
    if not REFERENCE.fullmatch(term):
        raise InvalidInput("duplicate_of", MALFORMED)
    return term


def duplicate_target(session: Session, principal: StaffPrincipal, case: Case, reference: str) -> Case:
    """The earlier case ``case`` repeats: same tenant, and openable by the principal."""
    wanted = parse_reference(reference)
    if wanted == case.reference:
        raise InvalidInput("duplicate_of", ITSELF)
    target = session.execute(sa.select(Case).where(Case.tenant_id == case.tenant_id, Case.reference == wanted)
                             ).scalar_one_or_none()
    if target is None or not (target.public_key is None or readable_ids(session, principal, [target.id])):
        raise InvalidInput("duplicate_of", NO_SUCH_CASE)
    return target


def duplicate_of(session: Session, case: Case) -> DuplicateOf | None:
    """The case this one was closed as a duplicate of (metadata only: the reference)."""
    if case.duplicate_of_id is None:
        return None
    reference = session.execute(sa.select(Case.reference).where(
        Case.id == case.duplicate_of_id, Case.tenant_id == case.tenant_id)).scalar_one_or_none()
    return DuplicateOf(case.duplicate_of_id, reference)
