"""The pt-BR catalogue is complete, not fuzzy, compiles, and is up to date with the sources.

A string a customer reads (the tracking page, the e-mails) that the catalogue lacks would
reach a Brazilian customer in English without anyone noticing; CI fails instead. See
docs/localisation.md for adding a string and translating it.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
#: what makemessages reads: the code and the templates (docs/localisation.md's command)
SOURCES = ("orderflow", "orders", "payments", "tracking", "notifications", "devtools", "templates")


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"GNU gettext's {tool} is missing: apt-get install gettext (.ci/run does)")


def _messages(path: Path):
    with path.open("rb") as file:
        catalogue = read_po(file, locale="pt_BR")
    return catalogue, [message for message in catalogue if message.id]


def _untranslated(messages) -> list:
    def empty(message) -> bool:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        return not all(strings)

    return [message.id for message in messages if empty(message) or message.fuzzy]


def test_every_pt_br_entry_is_translated_and_none_is_fuzzy_or_obsolete():
    catalogue, messages = _messages(CATALOGUE)

    assert messages, "the catalogue is empty"
    assert _untranslated(messages) == []
    assert not catalogue.fuzzy, "the catalogue's header is marked fuzzy"
    assert list(catalogue.obsolete) == [], "obsolete (#~) entries: run make messages again"


def test_the_catalogue_compiles_with_its_placeholders_checked(tmp_path):
    _needs("msgfmt")

    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(CATALOGUE)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr


def test_the_catalogue_has_every_string_of_the_sources(tmp_path, settings, monkeypatch):
    """makemessages run over a copy of the sources finds nothing new and nothing gone."""
    _needs("xgettext")
    _needs("msgmerge")
    for name in SOURCES:
        shutil.copytree(
            ROOT / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("__pycache__", "tests", "*.pyc"),
        )
    shutil.copytree(ROOT / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)

    call_command("makemessages", locale=["pt_BR"], no_location=True, verbosity=0)

    _fresh, fresh_messages = _messages(tmp_path / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po")
    _committed, committed_messages = _messages(CATALOGUE)
    missing = sorted({m.id for m in fresh_messages} - {m.id for m in committed_messages}, key=str)
    gone = sorted({m.id for m in committed_messages} - {m.id for m in fresh_messages}, key=str)
    assert missing == [], "strings in the sources that locale/pt_BR lacks: run make messages"
    assert gone == [], "strings in locale/pt_BR that no source has any more: run make messages"
    assert _untranslated(fresh_messages) == []


def test_the_compiled_catalogue_is_the_one_django_reads():
    """`make install` compiled it: Django finds the Portuguese words (a missing or stale
    .mo would give English to a Brazilian customer)."""
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists(), "run `make install` (it compiles locale/*/django.po)"
    assert compiled.stat().st_mtime >= CATALOGUE.stat().st_mtime, "run `make install` again"

    with translation.override("pt-br"):
        assert translation.gettext("Delivery attempt failed") == "Tentativa de entrega sem sucesso"
