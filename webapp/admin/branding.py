"""Administration: what the organisation's portal shows of its own (logo, intro text, privacy
notice, policy link). A branding that does not verify (changed outside the appliance) is shown
as such, and only a reset is offered: saving over it would sign what someone else wrote.

Routes on the admin blueprint (webapp/admin/__init__.py registers them).
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from appliance.errors import BrandingTampered, InvalidInput
from appliance.tenants.branding import PortalBranding
from appliance.tenants.logo import MAX_LOGO_BYTES
from appliance.tenants.models import Tenant
from webapp.admin.desk import AdminDesk
from webapp.admin.forms import BrandingForm, LogoForm, PostForm
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()

LOGO_ERRORS = {
    "too-large": _l("The file is too large: a logo may be at most 200 KB and 1200 × 1200 pixels."),
    "dimensions": _l("The image must be between 8 and 1200 pixels wide and high."),
    "wrong-type": _l("Only PNG and JPEG images can be used (not SVG, GIF or other files)."),
    "unreadable": _l("This file is not a complete PNG or JPEG image."),
}


@routes.route("/t/<slug>/branding", methods=["GET", "POST"])
@access("staff:admin")
def branding(slug: str) -> Response | tuple[str, int]:
    """The portal's intro text, privacy notice and policy link."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    form = BrandingForm() if request.method == "POST" else _texts_form(desk.branding.state(tenant.id).branding)
    if form.validate_on_submit():
        try:
            with desk.attempt():
                desk.branding.set_texts(tenant.id, form.intro.data or "", form.privacy_notice.data or "",
                                        form.policy_url.data or "", g.principal.actor)
        except InvalidInput as exc:
            _text_error(form, exc)
        except BrandingTampered:
            return _page(tenant, form, status=409)
        else:
            return redirect(url_for("admin.branding", slug=slug, saved=1), code=303)
    return _page(tenant, form, status=400 if form.errors else 200)


@routes.post("/t/<slug>/branding/logo")
@access("staff:admin")
def branding_logo(slug: str) -> Response | tuple[str, int]:
    """Upload a new logo (replaces the old one)."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    logo_form = LogoForm()
    upload = request.files.get("logo")
    if logo_form.validate_on_submit():
        if upload is None or not upload.filename:
            logo_form.logo.errors = [_("Choose a PNG or JPEG file.")]
            return _page(tenant, logo_form=logo_form, status=400)
        try:
            with desk.attempt():
                desk.branding.set_logo(tenant.id, upload.stream.read(MAX_LOGO_BYTES + 1), g.principal.actor)
        except InvalidInput as exc:
            logo_form.logo.errors = [str(LOGO_ERRORS.get(exc.reason, LOGO_ERRORS["unreadable"]))]
        except BrandingTampered:
            return _page(tenant, logo_form=logo_form, status=409)
        else:
            return redirect(url_for("admin.branding", slug=slug, saved="logo", _anchor="logo"), code=303)
    return _page(tenant, logo_form=logo_form, status=400)


@routes.post("/t/<slug>/branding/logo/remove")
@access("staff:admin")
def branding_remove_logo(slug: str) -> Response | tuple[str, int]:
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    try:
        with desk.attempt():
            desk.branding.remove_logo(tenant.id, g.principal.actor)
    except BrandingTampered:
        return _page(tenant, status=409)
    return redirect(url_for("admin.branding", slug=slug, saved="logo-removed", _anchor="logo"), code=303)


@routes.post("/t/<slug>/branding/reset")
@access("staff:admin")
def branding_reset(slug: str) -> Response:
    """Back to the standard texts and no logo (the way out of a branding that does not verify)."""
    desk = AdminDesk.of_request()
    tenant = desk.tenant(g.principal, slug)
    PostForm().validate_on_submit()  # CSRF already enforced by CSRFProtect
    desk.branding.reset(tenant.id, g.principal.actor)
    return redirect(url_for("admin.branding", slug=slug, saved="reset"), code=303)


def _texts_form(current: PortalBranding | None) -> BrandingForm:
    return BrandingForm(formdata=None, intro=current.intro if current else "",
                        privacy_notice=current.privacy_notice if current else "",
                        policy_url=current.policy_url if current else "")


def _text_error(form: BrandingForm, exc: InvalidInput) -> None:
    if exc.field == "policy_url":
        form.policy_url.errors = [_("Enter a complete https:// address of a web page, for example "
                                    "https://intranet.example.com/policy.")]
    else:
        field = form.privacy_notice if exc.field == "privacy_notice" else form.intro
        field.errors = [_("This text is too long or contains a character that is not allowed.")]


def _page(tenant: Tenant, form: BrandingForm | None = None, logo_form: LogoForm | None = None,
          status: int = 200) -> tuple[str, int]:
    state = AdminDesk.of_request().branding.checked_state(tenant.id, g.principal.actor)
    return render_template("admin/branding.html", tenant=tenant, state=state,
                           form=form or _texts_form(state.branding), logo_form=logo_form or LogoForm(formdata=None),
                           post=PostForm()), status
