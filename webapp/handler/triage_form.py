"""The form that closes a report at triage (its route is in triage.py; views.render_case shows it)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, StringField
from wtforms.validators import InputRequired, Length, Optional

from appliance.cases.triage import MAX_REFERENCE_INPUT
from appliance.cases.workflow import Outcome
from webapp.choices import labelled_choices

TRIAGE_CHOICES = labelled_choices([
    (Outcome.NOT_A_REPORT.value, _l("Not a report: spam, a test or a message about something else")),
    (Outcome.DUPLICATE.value, _l("A duplicate of an earlier report (name its case below)")),
])


class TriageForm(FlaskForm):
    outcome = RadioField(_l("Why is this closed without an acknowledgement?"), choices=TRIAGE_CHOICES,
                         validators=[InputRequired(message=_l("Choose why the report is closed."))])
    duplicate_of = StringField(_l("Reference of the earlier case (for a duplicate)"),
                               validators=[Optional(), Length(max=MAX_REFERENCE_INPUT)],
                               description=_l("As the work queue shows it, e.g. ABCD-1234."))
    # "yes" only from the confirmation page: the first submit shows that page and changes nothing.
    confirmed = HiddenField()

    def confirmed_on_submit(self) -> bool:
        return self.confirmed.data == "yes"
