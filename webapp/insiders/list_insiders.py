"""One section of an insider list: its insiders as at now (with the state of their notice of
duties and what they still have to fill in themselves); add an insider (who is sent the notice
at once, and on request a code for their own details), change one (a new version), cease one;
send a link again or issue a code to hand over in person."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from appliance.acknowledgements.notices import INSIDER_DETAILS, INSIDER_OBLIGATIONS
from appliance.errors import Conflict, InvalidInput, NotFound, PersonConflict
from appliance.insiders.records import InsiderDetails, InsiderView, SectionAsAt
from appliance.insiders.templates import PERMANENT, template_for
from appliance.tenants.models import Tenant
from webapp.choices import labelled_choices
from webapp.insiders.desk import desk
from webapp.insiders.list_forms import (
    DETAIL_FIELDS,
    FIELD_LABELS,
    CeaseForm,
    ChangeForm,
    InsiderForm,
    LinkForm,
    domain_error,
    utc,
)
from webapp.policy import access
from webapp.routes import RouteTable

routes = RouteTable()
PURPOSES = (INSIDER_OBLIGATIONS, INSIDER_DETAILS)


@routes.get("/t/<slug>/lists/<uuid:section_id>")
@access("staff:insider-manager")
def section(slug: str, section_id: uuid.UUID) -> tuple[str, int]:
    return _page(desk().tenant(g.principal, slug), section_id)


@routes.post("/t/<slug>/lists/<uuid:section_id>/insiders")
@access("staff:insider-manager")
def add_insider(slug: str, section_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    form = InsiderForm()
    if form.validate_on_submit():
        person_id, details = _details(tenant, form)
        try:
            with room.attempt():
                entry_id = room.insider_lists.add_insider(
                    tenant.id, section_id, details, utc(form.obtained.data) or room.now(), g.principal.actor,
                    ceased=utc(form.ceased.data), person_id=person_id)
                language = form.language.data or "en"
                room.insider_links.notify_obligations(tenant.id, entry_id, language, g.principal.actor)
                if form.self_service.data:
                    room.insider_links.request_details(tenant.id, entry_id, language, g.principal.actor)
        except InvalidInput as exc:
            domain_error(form, exc)
        except PersonConflict:
            form.email.errors = [_("This e-mail address or national ID belongs to another person already on "
                                   "your lists: choose them above instead.")]
        except Conflict as exc:
            _conflict(form, str(exc))
        else:
            return redirect(url_for("insiders.section", slug=slug, section_id=section_id, added=1), code=303)
    return _page(tenant, section_id, form=form)


@routes.route("/t/<slug>/lists/<uuid:section_id>/insiders/<uuid:insider_id>/change", methods=["GET", "POST"])
@access("staff:insider-manager")
def change_insider(slug: str, section_id: uuid.UUID, insider_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    part, insider = _insider(tenant, section_id, insider_id)
    now = room.now().replace(second=0, microsecond=0, tzinfo=None)
    form = ChangeForm()
    cease = CeaseForm(formdata=None, data={"ceased_at": now})
    if not form.is_submitted():
        form = ChangeForm(formdata=None, data={**{f: getattr(insider.details, f) for f in (
            "first_name", "surname", "professional_phone", "company_name_address", "function_reason")},
            "changed_at": now})
    elif form.validate_on_submit():
        changes = InsiderDetails(**{f: form[f].data or "" for f in (
            "first_name", "surname", "professional_phone", "company_name_address", "function_reason")})
        try:
            with room.attempt():
                room.insider_lists.change_insider(tenant.id, insider_id, changes, utc(form.changed_at.data)
                                                  or room.now(), g.principal.actor)
        except InvalidInput as exc:
            domain_error(form, exc, {"changed_at": "changed_at"})
        except Conflict:
            form.changed_at.errors = [_("This insider has ceased; their entry is history now.")]
        else:
            return redirect(url_for("insiders.section", slug=slug, section_id=section_id, changed=1), code=303)
    return render_template("insiders/list_insider.html", tenant=tenant, part=part, insider=insider, form=form,
                           cease=cease), 400 if form.errors else 200


@routes.post("/t/<slug>/lists/<uuid:section_id>/insiders/<uuid:insider_id>/cease")
@access("staff:insider-manager")
def cease_insider(slug: str, section_id: uuid.UUID, insider_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    part, insider = _insider(tenant, section_id, insider_id)
    cease = CeaseForm()
    if cease.validate_on_submit():
        try:
            with room.attempt():
                room.insider_lists.cease_insider(tenant.id, insider_id, utc(cease.ceased_at.data) or room.now(),
                                                 g.principal.actor)
        except InvalidInput as exc:
            domain_error(cease, exc, {"ceased": "ceased_at"})
        except Conflict:
            cease.ceased_at.errors = [_("This insider has ceased already.")]
        else:
            return redirect(url_for("insiders.section", slug=slug, section_id=section_id, ceased=1), code=303)
    form = ChangeForm(formdata=None, data={f: getattr(insider.details, f) for f in (
        "first_name", "surname", "professional_phone", "company_name_address", "function_reason")})
    return render_template("insiders/list_insider.html", tenant=tenant, part=part, insider=insider, form=form,
                           cease=cease), 400


@routes.post("/t/<slug>/lists/<uuid:section_id>/insiders/<uuid:insider_id>/links")
@access("staff:insider-manager")
def send_link(slug: str, section_id: uuid.UUID, insider_id: uuid.UUID) -> tuple[str, int]:
    """Send (again) the notice of duties, or a code for the person's own details."""
    room = desk()
    tenant = room.tenant(g.principal, slug)
    _insider(tenant, section_id, insider_id)
    form = LinkForm()
    if not form.validate_on_submit() or form.purpose.data not in PURPOSES:
        return _page(tenant, section_id, problem=_("The form was not complete. Please try again."), status=400)
    try:
        with room.attempt():
            if form.purpose.data == INSIDER_OBLIGATIONS:
                room.insider_links.notify_obligations(tenant.id, insider_id, form.language.data or "en",
                                                      g.principal.actor)
            else:
                room.insider_links.request_details(tenant.id, insider_id, form.language.data or "en",
                                                   g.principal.actor)
    except InvalidInput:
        return _page(tenant, section_id, problem=_("The form was not complete. Please try again."), status=400)
    return _page(tenant, section_id, notice=_("The code will be e-mailed within a few minutes. You can also issue a "
                                              "code here to hand over in person."))


@routes.post("/t/<slug>/lists/<uuid:section_id>/insiders/<uuid:insider_id>/code")
@access("staff:insider-manager")
def issue_insider_code(slug: str, section_id: uuid.UUID, insider_id: uuid.UUID) -> tuple[str, int]:
    room = desk()
    tenant = room.tenant(g.principal, slug)
    _part, insider = _insider(tenant, section_id, insider_id)
    form = LinkForm()
    form.language.data = form.language.data or "en"
    if not form.validate_on_submit() or form.purpose.data not in PURPOSES:
        return _page(tenant, section_id, problem=_("The form was not complete. Please try again."), status=400)
    link = room.insider_links.links_of(tenant.id, [insider_id])[form.purpose.data or ""].get(insider_id)
    if link is None:
        return _page(tenant, section_id, problem=_("Send the link first."), status=409)
    try:
        with room.attempt():
            issued = room.acknowledgements.issue(tenant.id, link.id, g.principal.actor)
    except Conflict:
        return _page(tenant, section_id, problem=_("This link is no longer open: it was used, withdrawn or has "
                                                   "expired. Send a new one."), status=409)
    name = " ".join(p for p in (insider.details.first_name, insider.details.surname) if p)
    return _page(tenant, section_id, issued=(issued.code, name, form.purpose.data or ""))


def _details(tenant: Tenant, form: InsiderForm) -> tuple[uuid.UUID | None, InsiderDetails]:
    """What the form gives; for a person already known, their details from their newest entry
    with whatever the form adds."""
    typed = {f: (form[f].data or "").strip() or None for f in DETAIL_FIELDS}
    if not form.known_person.data:
        return None, InsiderDetails(**typed)
    try:
        person_id = uuid.UUID(form.known_person.data)
    except ValueError:
        return uuid.UUID(int=0), InsiderDetails(**typed)  # not a person of this tenant: the domain says 404
    known = desk().insider_history.known_persons(tenant.id, g.principal.actor).get(person_id)
    base = known.details if known is not None else InsiderDetails()
    kept = {k: v for k, v in typed.items() if v is not None}
    kept["provider"] = typed["provider"] or ""  # a provider's contact on one section is not one on every section
    return person_id, base.merged(InsiderDetails(**kept))


def _conflict(form: InsiderForm, reason: str) -> None:
    if "permanent insider" in reason:
        form.known_person.errors = [_("This person is a permanent insider: permanent insiders are not added to "
                                      "event sections.")]
    elif "service provider" in reason:
        form.provider.errors = [_("This service provider already has its one contact person on this section.")]
    elif "closed" in reason:
        form.obtained.errors = [_("This section is closed; open a new one for new inside information.")]
    else:
        form.surname.errors = [_("This person is already on this section: change or cease their entry instead.")]


def _insider(tenant: Tenant, section_id: uuid.UUID, insider_id: uuid.UUID) -> tuple[SectionAsAt, InsiderView]:
    room = desk()
    (part,) = room.insider_history.as_at(tenant.id, room.now(), g.principal.actor, section_id).sections
    insider = next((i for i in part.insiders if i.entry_id == insider_id), None)
    if insider is None:
        raise NotFound("insider", insider_id)
    return part, insider


def _page(tenant: Tenant, section_id: uuid.UUID, form: InsiderForm | None = None, notice: str | None = None,
          problem: str | None = None, issued: tuple[str, str, str] | None = None,
          status: int | None = None) -> tuple[str, int]:
    room = desk()
    now = room.now()
    (part,) = room.insider_history.as_at(tenant.id, now, g.principal.actor, section_id).sections
    links = room.insider_links.links_of(tenant.id, [i.entry_id for i in part.insiders])
    missing = {i.entry_id: room.insider_links.missing(i, part.section.kind) for i in part.insiders}
    known = room.insider_history.known_persons(tenant.id, g.principal.actor)
    form = form or InsiderForm(formdata=None, data={"obtained": now.replace(second=0, microsecond=0, tzinfo=None)})
    form.known_person.choices = labelled_choices([("", "—"), *((str(pid), " ".join(
        p for p in (v.details.first_name, v.details.surname) if p)) for pid, v in known.items())])
    template = template_for(part.section.kind, now)
    shown = [f for f in DETAIL_FIELDS if f in template.fields or f in ("email", "provider")]
    if part.section.kind == PERMANENT:
        form.ceased.description = ""
    flags = {k: request.args.get(k) for k in ("added", "changed", "ceased", "closed")}
    return render_template(
        "insiders/list_section.html", tenant=tenant, part=part, now=now, links=links, missing=missing, form=form,
        shown=shown, labels=FIELD_LABELS, link_form=LinkForm(formdata=None), notice=notice, problem=problem,
        issued=issued, flags=flags, obligations=INSIDER_OBLIGATIONS, details=INSIDER_DETAILS,
    ), status or (400 if form.errors else 200)
