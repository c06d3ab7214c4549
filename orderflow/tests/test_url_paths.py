"""A path reversed once per script prefix is the path ``reverse`` writes, for any value."""

import uuid

import pytest
from django.urls import NoReverseMatch, clear_script_prefix, reverse, set_script_prefix

from orderflow.url_paths import path_with


@pytest.fixture(autouse=True)
def _prefix_restored():
    yield
    clear_script_prefix()


@pytest.mark.parametrize("prefix", ["/", "/shop-ops/", "/a b/", "/_/"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tracking:order", uuid.uuid4()),
        ("tracking:order", uuid.UUID(int=0)),  # the sample itself
        ("tracking:order", uuid.UUID(int=2**128 - 1)),
        ("tracking:public", "Zq3-_x9TbQw2LkP0aa8VhS1yNcR4uJ7e"),
        ("tracking:public", "_"),
        ("tracking:public", "a b é?#"),  # quoted by the converter: reversed whole
    ],
)
def test_a_path_is_what_reverse_writes(prefix, name, value):
    set_script_prefix(prefix)

    # twice: the first call remembers the path, the second uses it
    paths = [path_with(name, value), path_with(name, value)]

    expected = reverse(name, args=[value])
    assert paths == [expected, expected]
    assert expected.startswith(prefix.replace(" ", "%20"))


def test_an_empty_value_is_refused_as_reverse_refuses_it():
    with pytest.raises(NoReverseMatch):
        path_with("tracking:public", "")
