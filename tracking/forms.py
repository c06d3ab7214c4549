"""Staff forms of the tracking context: an internal note on an order."""

from django import forms
from django.utils.translation import gettext_lazy

from .services.notes import NOTE_MAX_LENGTH


class NoteForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("New note"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Only staff see notes: never the customer, the shop's API or webhooks."
        ),
        error_messages={"required": gettext_lazy("Write something in the note first.")},
    )
