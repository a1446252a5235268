"""The room's search form (GET: a search is a link an auditor can keep) and the verify button."""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from appliance.audit.search import LogbookQuery, parse_moment

FIELDS = ("since", "until", "actor", "action", "object")


class VerifyForm(FlaskForm):
    """A button-only form: CSRF token and nothing else."""


def search_args(args: MultiDict[str, str]) -> dict[str, str]:
    """The search's own arguments, non-empty and stripped (what links to other pages carry)."""
    return {name: args.get(name, "").strip() for name in FIELDS if args.get(name, "").strip()}


def logbook_query(tenant_id: uuid.UUID, given: dict[str, str]) -> LogbookQuery:
    """InvalidInput (naming the field) for a malformed time or an oversized term."""
    return LogbookQuery(
        tenant_id,
        since=parse_moment("since", given["since"]) if "since" in given else None,
        until=parse_moment("until", given["until"]) if "until" in given else None,
        actor_id=given.get("actor"),
        action=given.get("action"),
        object_id=given.get("object"),
    )
