"""Administration forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from appliance.actors import Role


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[InputRequired(), Length(max=254)])
    roles = CheckboxesField(_l("Roles"), validators=[InputRequired(message=_l("Choose at least one role."))],
                            choices=[r.value for r in Role])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[r.value for r in Role])
    action = SelectField(_l("Action"), choices=["grant", "revoke"])


class CategoryForm(FlaskForm):
    label = StringField(_l("New category"), validators=[InputRequired(), Length(max=200)])


class RecipientsForm(FlaskForm):
    # The domain checks every id (an active handler of this tenant); the form only carries them.
    recipients = CheckboxesField(_l("Handlers who receive new reports"), choices=[], validate_choice=False)


class PostForm(FlaskForm):
    """A button-only form: CSRF token and nothing else."""
