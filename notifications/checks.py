"""System checks: refuse to start when an e-mail trigger or template names no real event.

A misspelled event type would otherwise fail silently — the e-mail is simply never sent —
so ``manage.py check``, ``migrate``, ``runserver`` and every deploy stop on it instead.
"""

from collections.abc import Iterable
from pathlib import Path

from django.core.checks import Error, register
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import get_template

from orderflow.events import event_types

from . import emails
from .services.emails import COMPOSERS

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / emails.TEMPLATE_ROOT


@register()
def check_email_triggers(app_configs=None, **kwargs) -> list[Error]:
    return email_trigger_errors(
        triggers=emails.TRIGGERS,
        template_dir=TEMPLATE_DIR,
        declared={type_ for type_, _version in event_types()},
    )


def email_trigger_errors(
    *, triggers: Iterable[emails.EmailTrigger], template_dir: Path, declared: set[str]
) -> list[Error]:
    errors = []
    for trigger in triggers:
        if trigger.event_type not in declared:
            errors.append(
                Error(
                    f"The e-mail trigger {trigger.template!r} names the event type "
                    f"{trigger.event_type!r}, which no context declares.",
                    hint="Fix the spelling in notifications/emails.py TRIGGERS; "
                    "`manage.py events` lists the declared types.",
                    id="notifications.E001",
                )
            )
        for path in emails.template_files(trigger.template).values():
            try:
                get_template(path)
            except (TemplateDoesNotExist, TemplateSyntaxError) as error:
                errors.append(
                    Error(
                        f"The e-mail template {path!r} cannot be loaded: {error}",
                        id="notifications.E002",
                    )
                )
        if trigger.template not in COMPOSERS:
            errors.append(
                Error(
                    f"The e-mail trigger {trigger.template!r} has no composer.",
                    hint="Add it to COMPOSERS in notifications/services/emails.py.",
                    id="notifications.E003",
                )
            )
    if template_dir.is_dir():
        for directory in sorted(p for p in template_dir.iterdir() if p.is_dir()):
            if directory.name not in declared:
                errors.append(
                    Error(
                        f"The e-mail template directory {directory.name!r} names an event "
                        "type that no context declares.",
                        hint=f"Rename or remove {directory}.",
                        id="notifications.E004",
                    )
                )
    return errors
