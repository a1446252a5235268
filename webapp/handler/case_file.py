"""The case file as a PDF: a POST from the case page (CSRF; the export is in the logbook),
answered with the PDF as a download. Built in memory, never written to the server's disk.
A handler whose key does not open the case gets the locked page (webapp/handler/access.py)."""

from __future__ import annotations

import re
import uuid

from flask import Response, g
from flask_babel import get_locale

from appliance.documents.pdf import render_pdf
from webapp.handler.case_file_document import case_file_document
from webapp.handler.desk import HandlerDesk
from webapp.handler.forms import ExportForm
from webapp.policy import access
from webapp.routes import RouteTable
from webapp.templating import category_label

routes = RouteTable()
UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9-]")


@routes.post("/cases/<uuid:case_id>/export")
@access("staff:handler")
def export_case(case_id: uuid.UUID) -> Response:
    form = ExportForm()  # CSRFProtect checked the token before the view
    desk = HandlerDesk.of_request()
    case_file = desk.cases.case_file(g.principal, case_id, with_notes=bool(form.with_notes.data))
    tenant = desk.tenant_by_id(case_file.case.tenant_id)
    categories = {c.id: category_label(c.label) for c in desk.all_categories(tenant.id)}
    emails = {u.id: u.email for u in desk.users.users_in(frozenset({tenant.id}))}
    document = case_file_document(case_file, tenant_name=tenant.name, categories=categories, emails=emails,
                                  exported_by=desk.users.email_of(g.user), language=str(get_locale() or "en"))
    response = Response(render_pdf(document, case_file.exported_at), mimetype="application/pdf")
    name = UNSAFE_IN_FILENAME.sub("_", case_file.case.reference)
    response.headers["Content-Disposition"] = f'attachment; filename="case-{name}.pdf"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
