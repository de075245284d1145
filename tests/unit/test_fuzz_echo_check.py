"""The fuzzer's echo check (devtools/fuzz.py): it catches a personal value an error repeats, and is
not fooled by a drawn value that is a word of the service's own error text."""

from __future__ import annotations

from chalicelib.api.openapi import SUBMISSION_EXAMPLE
from devtools.fuzz import echoed_values

FIXED_TEXT = '{"title": "Bad Request", "detail": "The request has invalid fields.", "status": 400}'


def body(**patient: str) -> dict[str, object]:
    return {"patient": {"nir": "180017510012345", **patient}, "test": {}}


def test_an_error_repeating_a_name_is_an_echo() -> None:
    text = FIXED_TEXT[:-1] + ', "errors": [{"field": "patient.last_name", "message": "Dupontel"}]}'
    assert echoed_values(body(last_name="Dupontel"), text) == ["Dupontel"]


def test_a_value_found_inside_a_word_is_an_echo_too() -> None:
    assert echoed_values(body(first_name="Martine"), "xMartinex") == ["Martine"]


def test_a_nir_in_the_text_is_an_echo() -> None:
    assert echoed_values(body(), FIXED_TEXT + "180017510012345") == ["180017510012345"]


def test_a_drawn_name_that_is_a_word_of_our_own_error_text_is_no_echo() -> None:
    assert echoed_values(body(last_name="invalid", first_name="Fields"), FIXED_TEXT) == []
    assert echoed_values(body(last_name="request fields"), FIXED_TEXT) == []


def test_a_name_absent_from_the_text_is_no_echo() -> None:
    assert echoed_values(body(last_name="Dupontel", email="dupontel@example.org"), FIXED_TEXT) == []


def test_the_example_patient_s_name_still_counts_as_an_echo() -> None:
    # the OpenAPI example (which the fuzzer sends) is not part of the vocabulary of our error text
    example = SUBMISSION_EXAMPLE["patient"]
    assert echoed_values(body(last_name=example["last_name"]), "Dupont") == ["Dupont"]
    assert echoed_values(body(first_name=example["first_name"]), "Jeanne") == ["Jeanne"]
