"""The handler's work queue /staff/queue: a GET search (a link a handler can keep), keyset pages
with Next/Previous links, and the handler's saved searches. Views only turn requests into calls."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from appliance.actors import Role
from appliance.cases.queue import MAX_PAGE_SIZE, PAGE_SIZE, QueuePage
from appliance.cases.queue_filter import QueueFilter, QueueSort
from appliance.errors import InvalidInput
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import PostForm, SaveFilterForm
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import STATUS_LABELS

routes = RouteTable()


@routes.get("/queue")
@access("staff:handler")
def queue() -> tuple[str, int]:
    desk = HandlerDesk.of_request()
    try:
        filters = QueueFilter.from_args(request.args)
    except InvalidInput as exc:
        return _render(desk, QueueFilter(open_only=True), error=_error(exc)), 400
    try:
        size = _page_size(request.args.get("size", ""))
        page = desk.cases.queue_page(g.principal, filters, request.args.get("cursor") or None, size)
    except InvalidInput as exc:
        return _render(desk, filters, error=_error(exc)), 400
    return _render(desk, filters, page=page, size=size), 200


@routes.post("/queue/filters")
@access("staff:handler")
def save_filter() -> Response | tuple[str, int]:
    desk = HandlerDesk.of_request()
    form = SaveFilterForm()
    try:
        filters = QueueFilter.from_args(request.form)
    except InvalidInput as exc:
        return _render(desk, QueueFilter(open_only=True), error=_error(exc)), 400
    if not form.validate_on_submit():
        return _render(desk, filters, save_form=form, error=_("Name the search (at most 80 characters).")), 400
    try:
        with desk.attempt():
            desk.saved_filters.save(g.principal, form.name.data or "", filters)
    except InvalidInput as exc:
        return _render(desk, filters, save_form=form, error=_error(exc)), 400
    args: dict[str, str] = filters.to_args()
    return redirect(url_for("handler.queue", _external=False, **args), code=303)


@routes.post("/queue/filters/<uuid:filter_id>/delete")
@access("staff:handler")
def delete_filter(filter_id: uuid.UUID) -> Response | tuple[str, int]:
    desk = HandlerDesk.of_request()
    if not PostForm().validate_on_submit():
        return _render(desk, QueueFilter(open_only=True), error=_("The form expired. Try again.")), 400
    desk.saved_filters.delete(g.principal, filter_id)
    return redirect(url_for("handler.queue"), code=303)


def _render(desk: HandlerDesk, filters: QueueFilter, page: QueuePage | None = None, size: int = PAGE_SIZE,
            save_form: SaveFilterForm | None = None, error: str | None = None) -> str:
    tenants = desk.tenants.by_ids(g.principal.tenants_with(Role.HANDLER))
    categories = {c.id: c for t in tenants for c in desk.all_categories(t.id)}
    emails = {u.id: u.email for u in desk.users.users_in(frozenset(t.id for t in tenants))}
    args = filters.to_args() | ({"size": str(size)} if size != PAGE_SIZE else {})
    return render_template(
        "handler/queue.html", page=page, rows=page.rows if page else [], tenants={t.id: t for t in tenants},
        categories=categories, filters=filters, args=args, status_labels=STATUS_LABELS, sorts=_sort_labels(),
        emails=emails, saved=desk.saved_filters.list(g.principal), error=error, paged="cursor" in request.args,
        save_form=save_form or SaveFilterForm(formdata=None), post=PostForm(formdata=None), logout=PostForm())


def _page_size(value: str) -> int:
    if not value:
        return PAGE_SIZE
    if not value.isdecimal() or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise InvalidInput("page_size", f"between 1 and {MAX_PAGE_SIZE}")
    return int(value)


def _sort_labels() -> dict[str, str]:
    return {QueueSort.RECEIVED.value: _("Received"), QueueSort.DEADLINE.value: _("Next deadline"),
            QueueSort.STATUS.value: _("Status")}


def _error(exc: InvalidInput) -> str:
    if exc.field == "cursor":
        return _("This page link is not valid for this search. Start again from the first page.")
    if exc.field == "ref":
        return _("A case reference looks like ABCD-1234: letters and digits, at most 9 characters.")
    if exc.field == "page_size":
        return _("Show between 1 and %(max)d cases per page.", max=MAX_PAGE_SIZE)
    if exc.field == "tenant":
        return _("Choose one of your organisations to save this search for.")
    if exc.field == "name":
        return _("Name the search (at most 80 characters). You can keep at most 30 saved searches.")
    return _("This search is not valid. Choose its filters again.")
