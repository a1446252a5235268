"""Which frame a page that is not a view's own (an error page) wears: the organisation's portal
for a reporter URL (/r/<slug>/...), the staff frame for staff URLs, the plain one otherwise,
each with a link back to where its audience starts.

A reporter who meets an error must not land on a page that looks like another site, and must
find the way back to their organisation's portal without guessing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import request, url_for
from flask_babel import gettext as _

from appliance.errors import NotFound
from appliance.tenants.models import Tenant
from webapp.desk import Desk

STAFF_PREFIXES = ("/staff", "/admin", "/audit", "/stats", "/insiders")
MAX_SLUG = 100  # longer names no tenant: not looked up


@dataclass(frozen=True)
class Frame:
    layout: str
    back_url: str
    back_label: str
    context: dict[str, Any] = field(default_factory=dict)


class FrameDesk(Desk):
    """What an error page may read: the organisation a portal URL names."""

    def portal_tenant(self, slug: str) -> Tenant | None:
        self.rollback_now()  # read without whatever the failed request wrote
        try:
            return self._services.tenants.by_slug(slug)
        except NotFound:
            return None


def frame_of_request() -> Frame:
    path = request.path
    if path.startswith("/r/"):
        tenant = _portal_tenant(path.split("/")[2])
        if tenant is not None:
            return Frame("reporter/layout.html", url_for("reporter.portal", slug=tenant.slug),
                         _("Back to the start page"), {"tenant": tenant})
    elif any(path == p or path.startswith(p + "/") for p in STAFF_PREFIXES):
        return Frame("handler/layout.html", url_for("handler.home"), _("Back to the staff start page"))
    return Frame("base.html", url_for("common.index"), _("Back to the start page"))


def _portal_tenant(slug: str) -> Tenant | None:
    if not slug or len(slug) > MAX_SLUG:
        return None
    try:
        return FrameDesk.of_request().portal_tenant(slug)
    except Exception:  # the frame is decoration: a broken database still gets its error page
        return None
