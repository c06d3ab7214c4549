"""The start-up check: e-mail triggers and template directories must name real event types."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from notifications import checks, emails
from notifications.emails import EmailTrigger


def test_the_shipped_triggers_and_templates_pass():
    assert checks.check_email_triggers() == []


def test_a_misspelled_event_type_in_a_trigger_fails_loudly(monkeypatch):
    monkeypatch.setattr(
        emails, "TRIGGERS", (*emails.TRIGGERS, EmailTrigger("order.confimred", emails.CUSTOMER))
    )

    with pytest.raises(SystemCheckError) as raised:
        call_command("check")

    message = str(raised.value)
    assert "notifications.E001" in message
    assert "'order.confimred', which no context declares" in message
    assert "notifications.E002" in message  # and it has no templates either


def test_a_template_directory_naming_no_event_type_fails(tmp_path):
    (tmp_path / "order.confirmed").mkdir()
    (tmp_path / "shipment.dispatchd").mkdir()

    errors = checks.email_trigger_errors(
        triggers=[], template_dir=tmp_path, declared={"order.confirmed"}
    )

    assert [(e.id, e.msg) for e in errors] == [
        (
            "notifications.E004",
            "The e-mail template directory 'shipment.dispatchd' names an event type that no "
            "context declares.",
        )
    ]


def test_a_trigger_without_templates_or_composer_fails(tmp_path):
    errors = checks.email_trigger_errors(
        triggers=[EmailTrigger("order.placed", emails.CUSTOMER)],
        template_dir=tmp_path,
        declared={"order.placed"},
    )

    assert [e.id for e in errors] == [
        "notifications.E002",
        "notifications.E002",
        "notifications.E002",
        "notifications.E003",
    ]
