"""Reporter forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, MultipleFileField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from appliance.cases.content import MAX_SHORT, MAX_TEXT

NOTIFY_HINT = _l("We will only write “a new message is waiting”, never anything from your report, no reference "
                 "and no names. The address is stored encrypted and is never shown to the people handling "
                 "your report, but the system that sends the mail can read it, and an address can identify "
                 "you. Leave it empty if you do not want to give one.")


class ReportForm(FlaskForm):
    # Names this rendered form, so that sending it twice files one report (appliance/cases/receipts.py).
    form_ref = HiddenField()
    category = SelectField(_l("What is it about?"), validators=[InputRequired()], choices=[])
    what = TextAreaField(_l("What happened?"), validators=[InputRequired(), Length(max=MAX_TEXT)],
                         description=_l("Describe what you saw or know, in your own words."))
    when = StringField(_l("When did it happen?"), validators=[Optional(), Length(max=MAX_SHORT)],
                       description=_l("A date or period, if you know it."))
    where = StringField(_l("Where did it happen?"), validators=[Optional(), Length(max=MAX_SHORT)],
                        description=_l("Place, department or system."))
    people = TextAreaField(_l("Who is involved?"), validators=[Optional(), Length(max=MAX_SHORT)],
                           description=_l("Names or roles of the people involved, and any witnesses."))
    contact = EmailField(_l("Your e-mail address (optional)"),
                         validators=[Optional(), Length(max=254)],
                         description=_l("Leave it empty if you do not want to give a way to contact you: "
                                        "you can still follow up with your case key. If you give one, it is "
                                        "encrypted with your report, only the people appointed to handle "
                                        "reports here can read it, and it can identify you."))
    notify = EmailField(_l("E-mail address for notices (optional)"), validators=[Optional(), Length(max=254)],
                        description=NOTIFY_HINT)
    attachments = MultipleFileField(_l("Documents or pictures (optional)"),
                                    description=_l("Files can contain hidden information about you, such as "
                                                   "author names or location. Remove it before uploading if "
                                                   "you do not want it to identify you."))


class FollowUpForm(FlaskForm):
    case_key = StringField(_l("Your case key"), validators=[InputRequired(), Length(max=64)],
                           description=_l("The 16 characters you received, like ABCD-EFGH-JKMN-PQRS."))


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Your message"), validators=[Optional(), Length(max=MAX_TEXT)])
    attachments = MultipleFileField(_l("Add documents or pictures (optional)"))


class SignOutForm(FlaskForm):
    pass


class ApproveRecordForm(FlaskForm):
    """The reporter agrees with the record of their oral report (a button and the CSRF token)."""


class CorrectRecordForm(FlaskForm):
    correction = TextAreaField(_l("Your corrections"), validators=[InputRequired(), Length(max=MAX_TEXT)],
                               description=_l("Say what is wrong or missing in the record. Your corrections are "
                                              "added to the case as you write them; the record itself stays as "
                                              "it was written."))


class NotifyForm(FlaskForm):
    """Add, change or remove the address for "a new message is waiting" mails (never shown back)."""

    address = EmailField(_l("E-mail address for notices"), validators=[Optional(), Length(max=254)],
                         description=NOTIFY_HINT)
    save = SubmitField(_l("Save this address"))
    remove = SubmitField(_l("Remove any saved address"))


class ConsentAnswerForm(FlaskForm):
    """The reporter's answer to a request for consent to disclose their identity: two buttons
    (``answer``: given or refused) and the CSRF token."""
