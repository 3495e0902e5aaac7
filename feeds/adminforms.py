"""Admin form pieces every admin module shares (the newsroom's, the digest's, ...): inputs
with accessible names, and editors' address habits. Ground floor: Django only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import widgets
from django.db import models


class LabelledSplitDateTime(widgets.AdminSplitDateTime):
    """Date and time inputs named for screen readers ("Published at: date"): Django's own
    "Date:" and "Time:" are plain text, not labels."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        label = name.rsplit("-", 1)[-1].replace("_", " ").capitalize()
        for sub, part in zip(context["widget"]["subwidgets"], ("date", "time"), strict=False):
            sub["attrs"]["aria-label"] = f"{label}: {part}"
        return context


# Editors paste addresses without a scheme; feeds and outlets are https nowadays.
URL_OVERRIDES: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.URLField: {"assume_scheme": "https"},
    models.DateTimeField: {"widget": LabelledSplitDateTime},
}


class LabelledInlineFormSet(forms.BaseInlineFormSet):
    """Every input of a tabular inline row gets an accessible name: the column header is not
    its label, and the delete box had only a title."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        row = f", row {index + 1}" if index is not None else ""
        for field in form.fields.values():
            # A RelatedFieldWidgetWrapper renders the widget it wraps, with that one's attrs.
            widget = getattr(field.widget, "widget", field.widget)
            widget.attrs["aria-label"] = f"{field.label}{row}"
