"""The notice texts people confirm through an acknowledgement code: the organisation's own wording
of each notice in English and Swedish; an empty text means the default wording."""

from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from appliance.acknowledgements.notices import INSIDER_OBLIGATIONS, PDMR_OBLIGATIONS, PURPOSES, default_notice
from appliance.errors import InvalidInput
from appliance.tenants.models import Tenant
from webapp.insiders.desk import desk
from webapp.insiders.forms import NoticeForm
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()
PURPOSE_LABELS = {
    PDMR_OBLIGATIONS: _l("Obligations of PDMRs and closely associated persons (MAR Art. 19)"),
    INSIDER_OBLIGATIONS: _l("Duties of persons on an insider list (MAR Art. 18)"),
}


@routes.get("/t/<slug>/notices")
@access("staff:insider-manager")
def notices(slug: str) -> tuple[str, int]:
    return _page(desk().tenant(g.principal, slug))


@routes.post("/t/<slug>/notices/<any('pdmr-obligations', 'insider-obligations'):purpose>")
@access("staff:insider-manager")
def save_notice(slug: str, purpose: str) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = NoticeForm()
    if form.validate_on_submit():
        try:
            with room.attempt():
                for language in ("en", "sv"):
                    room.acknowledgements.set_notice(tenant.id, purpose, language, form[f"text_{language}"].data,
                                                     g.principal.actor)
        except InvalidInput:
            form.text_en.errors = [_("Use at most 20,000 characters, without control characters.")]
        else:
            return _page(tenant, notice=_("The notice texts have been saved. Codes confirmed from now on show them."))
    return _page(tenant, failed=(purpose, form))


def _page(tenant: Tenant, notice: str | None = None, failed: tuple[str, NoticeForm] | None = None) -> tuple[str, int]:
    room = desk()
    links = room.acknowledgements
    forms = {}
    for purpose in PURPOSES:
        if failed is not None and failed[0] == purpose:
            forms[purpose] = failed[1]
            continue
        data = {f"text_{lang}": "" if links.is_default(tenant.id, purpose, lang) else links.notice(tenant.id, purpose, lang)
                for lang in ("en", "sv")}
        forms[purpose] = NoticeForm(formdata=None, data=data)
    defaults = {(p, lang): default_notice(p, lang) for p in PURPOSES for lang in ("en", "sv")}
    return render_template("insiders/notices.html", tenant=tenant, forms=forms, defaults=defaults,
                           labels=PURPOSE_LABELS, notice=notice), 400 if failed else 200
