"""The one gate for untrusted text (django_idp_logout/untrusted.py)."""

import pytest
from django.http import QueryDict

from django_idp_logout import untrusted


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "is not a string"),
        (42, "is not a string"),
        (["a"], "is not a string"),
        ("a\x00b", "contains a NUL character"),
        ("\ud800", "is not valid Unicode"),
        ("x\udfffy", "is not valid Unicode"),
        ("x" * 4097, "is longer than 4096 characters"),
    ],
)
def test_malformed_values_are_named_with_the_reason(value, reason):
    assert untrusted.problem(value) == reason
    with pytest.raises(untrusted.MalformedInput, match=f"^sid {reason}$"):
        untrusted.text(value, name="sid")


@pytest.mark.parametrize("value", ["", "abc", "ü€𝄞", "<b>", "x" * 4096, "tab\there"])
def test_clean_text_passes_unchanged(value):
    assert untrusted.problem(value) is None
    assert untrusted.text(value, name="v") is value


def test_identifiers_are_non_empty_and_fit_an_indexed_column():
    assert untrusted.identifier("s" * 255, name="sid") == "s" * 255
    with pytest.raises(untrusted.MalformedInput, match="longer than 255"):
        untrusted.identifier("s" * 256, name="sid")
    with pytest.raises(untrusted.MalformedInput, match="sid is empty"):
        untrusted.identifier("", name="sid")


def test_single_parameter_refuses_repetition_and_passes_absence():
    assert untrusted.single_parameter(QueryDict("a=1"), "a") == "1"
    assert untrusted.single_parameter(QueryDict("a=1"), "b") is None
    with pytest.raises(untrusted.MalformedInput, match="a is sent more than once"):
        untrusted.single_parameter(QueryDict("a=1&a=1"), "a")
    with pytest.raises(untrusted.MalformedInput, match="contains a NUL"):
        untrusted.single_parameter(QueryDict("a=%00"), "a")
