"""The carrier credential keys are checked at start-up, not when an account is first saved."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from orders.checks import carrier_key_errors


def test_unset_keys_and_fernet_keys_pass():
    assert carrier_key_errors(key="", old_keys=[]) == []
    good = Fernet.generate_key().decode()
    assert carrier_key_errors(key=good, old_keys=[Fernet.generate_key().decode()]) == []


def test_each_malformed_key_is_named():
    good = Fernet.generate_key().decode()

    errors = carrier_key_errors(key="not-a-key", old_keys=[good, "short", ""])

    assert [(e.id, e.msg) for e in errors] == [
        ("orders.E001", "CARRIER_CREDENTIALS_KEY is not a Fernet key."),
        ("orders.E001", "CARRIER_CREDENTIALS_OLD_KEYS[1] is not a Fernet key."),
        ("orders.E001", "CARRIER_CREDENTIALS_OLD_KEYS[2] is not a Fernet key."),
    ]
    assert "Fernet.generate_key()" in errors[0].hint


@override_settings(CARRIER_CREDENTIALS_KEY="not-a-key")
def test_manage_py_check_stops_on_a_malformed_key():
    with pytest.raises(SystemCheckError, match="CARRIER_CREDENTIALS_KEY is not a Fernet key"):
        call_command("check")
