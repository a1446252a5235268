"""The organisation's own branding on its portal: the logo (/r/<slug>/logo), the privacy notice
(/r/<slug>/privacy), and ``portal_branding(tenant)`` for the portal's templates.

Only a branding that verifies is shown (``appliance.tenants.branding``); otherwise the portal
wears the appliance's own texts and no logo. The logo is served from the database as the
appliance re-encoded it, with its stored type, ``nosniff`` and a sandboxing CSP; browsers keep
it only privately and ask again each time (``no-cache`` with an ETag, so an unchanged logo costs
a 304, and a removed or no longer verifying one is never shown from a cache).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Response, g, render_template, request
from werkzeug.wrappers import Response as AnyResponse

from appliance.errors import NotFound
from appliance.tenants.branding import PortalBranding, paragraphs
from appliance.tenants.models import Tenant
from webapp.policy import access
from webapp.reporter.desk import desk
from webapp.routes import RouteTable
from webapp.unit_of_work import reads_only

routes = RouteTable()


@routes.get("/logo")
@access("reporter")
@reads_only
def logo(slug: str) -> AnyResponse:
    """The organisation's logo, if it has one that verifies (404 otherwise)."""
    reporter = desk()
    tenant = reporter.tenant(slug)
    found = reporter.branding.logo(tenant.id)
    if found is None:
        raise NotFound("logo", slug)
    data, branding = found
    response = Response(data, mimetype=branding.logo_type)
    response.set_etag(branding.logo_etag or "")
    response.cache_control.private = True
    response.cache_control.no_cache = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response.make_conditional(request)


@routes.get("/privacy")
@access("reporter")
@reads_only
def privacy(slug: str) -> str:
    """The organisation's privacy notice for reporters (the standard one when it has none)."""
    tenant = desk().tenant(slug)
    return render_template("reporter/privacy.html", tenant=tenant)


def portal_branding(tenant: Tenant) -> PortalBranding | None:
    """What the portal's frame and pages show of the organisation (None: the defaults). Read once
    per request. Error pages wear this frame too, so a failure here leaves only the decoration out."""
    cache: dict[uuid.UUID, PortalBranding | None] = g.setdefault("portal_branding", {})
    if tenant.id not in cache:
        try:
            cache[tenant.id] = desk().branding.portal(tenant.id)
        except Exception:  # the branding is decoration: a broken database still gets its error page
            cache[tenant.id] = None
    return cache[tenant.id]


TEMPLATE_GLOBALS: dict[str, Callable[..., object]] = {"portal_branding": portal_branding}
TEMPLATE_FILTERS: dict[str, Callable[..., object]] = {"paragraphs": paragraphs}
