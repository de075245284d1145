"""NIR vectors: format, key (Corsica included), sex digit, birth month, agreement with the patient."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.domain import nir
from chalicelib.domain.model import Sex


def with_key(first13: str) -> str:
    """The key computed independently of stdnum: 97 - (13 digits mod 97), 2A read as 19, 2B as 18."""
    digits = first13.upper().replace("2A", "19", 1).replace("2B", "18", 1)
    return first13.upper() + f"{97 - int(digits) % 97:02d}"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("295109912611193", "295109912611193"),
        ("2 95 10 99 126 111 93", "295109912611193"),
        ("2.95.10.99.126.111.93", "295109912611193"),
        (" 1 85 05 78 006 084 91 ", "185057800608491"),
        ("253072A07300443", "253072A07300443"),  # Corsica, Corse-du-Sud
        ("253072B07300470", "253072B07300470"),  # Corsica, Haute-Corse
        ("2 53 07 2a 073 004 43", "253072A07300443"),  # lower-case 2a is upper-cased
        (with_key("1780320123456"), with_key("1780320123456")),
    ],
)
def test_valid_nirs_are_normalised(raw: str, normalised: str) -> None:
    assert nir.normalise(raw) == normalised


def test_independent_key_matches_the_published_vectors() -> None:
    assert with_key("2951099126111") == "295109912611193"
    assert with_key("253072A073004") == "253072A07300443"
    assert with_key("253072B073004") == "253072B07300470"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("295109912611199", "has a wrong key"),
        ("295109912611194", "has a wrong key"),
        ("253072A07300444", "has a wrong key"),
        ("253072B07300443", "has a wrong key"),  # the 2A key does not fit 2B
        # key computed as if 2A were 20: the 19 substitution is required
        ("253072A073004" + f"{97 - 2530720073004 % 97:02d}", "has a wrong key"),
        ("29510991261119", "must have 15 characters (13 plus a 2-digit key)"),
        ("2951099126111933", "must have 15 characters (13 plus a 2-digit key)"),
        ("", "must have 15 characters (13 plus a 2-digit key)"),
        ("2" * 41, "must have 15 characters (13 plus a 2-digit key)"),
        ("29510991261119X", "must contain digits only (2A or 2B for Corsica)"),
        ("2951099126A1193", "must contain digits only (2A or 2B for Corsica)"),
        ("253072C07300443", "must contain digits only (2A or 2B for Corsica)"),
        ("2-95-10-99-126-111-93", "must have 15 characters (13 plus a 2-digit key)"),
    ],
)
def test_invalid_nirs_are_refused(raw: str, message: str) -> None:
    with pytest.raises(nir.InvalidNir) as caught:
        nir.normalise(raw)
    assert caught.value.message == message


@pytest.mark.parametrize("first", ["0", "5", "6", "9"])
def test_sex_digit_must_be_issued(first: str) -> None:
    with pytest.raises(nir.InvalidNir, match="must start with"):
        nir.normalise(with_key(first + "951099126111"))


@pytest.mark.parametrize("month", ["00", "13", "19", "43", "49"])
def test_never_issued_months_are_refused(month: str) -> None:
    with pytest.raises(nir.InvalidNir, match="invalid birth month"):
        nir.normalise(with_key(f"295{month}99126111"))


@pytest.mark.parametrize(
    ("first", "sex"), [("1", Sex.M), ("3", Sex.M), ("7", Sex.M), ("2", Sex.F), ("4", Sex.F), ("8", Sex.F)]
)
def test_sex_digit(first: str, sex: Sex) -> None:
    number = nir.normalise(with_key(first + "951099126111"))
    assert nir.sex_of(number) == sex
    assert nir.disagreements(number, sex, date(1995, 10, 1)) == []
    other = Sex.F if sex is Sex.M else Sex.M
    assert nir.disagreements(number, other, date(1995, 10, 1)) == [nir.NIR_SEX_MISMATCH]


@pytest.mark.parametrize(
    "born",
    [date(1995, 11, 1), date(1996, 10, 1), date(1905, 10, 1), date(2095, 9, 30)],
)
def test_birth_year_or_month_mismatch(born: date) -> None:
    number = nir.normalise("295109912611193")
    assert nir.disagreements(number, Sex.F, born) == [nir.NIR_BIRTH_DATE_MISMATCH]


def test_birth_year_is_compared_modulo_100() -> None:
    number = nir.normalise("295109912611193")
    assert nir.disagreements(number, Sex.F, date(1995, 10, 31)) == []
    assert nir.disagreements(number, Sex.F, date(2095, 10, 1)) == []


@pytest.mark.parametrize("month", ["20", "30", "42", "50", "75", "99"])
def test_unknown_month_is_accepted_and_not_compared(month: str) -> None:
    number = nir.normalise(with_key(f"195{month}99126111"))
    assert nir.birth_month(number) is None
    assert nir.disagreements(number, Sex.M, date(1995, 1, 1)) == []
    assert nir.disagreements(number, Sex.M, date(1995, 12, 31)) == []
    # the year is still compared
    assert nir.disagreements(number, Sex.M, date(1994, 6, 1)) == [nir.NIR_BIRTH_DATE_MISMATCH]


def test_both_mismatches_are_reported() -> None:
    number = nir.normalise("295109912611193")
    assert nir.disagreements(number, Sex.M, date(1980, 1, 1)) == [
        nir.NIR_SEX_MISMATCH,
        nir.NIR_BIRTH_DATE_MISMATCH,
    ]


def test_unknown_sex_or_birth_date_is_not_compared() -> None:
    assert nir.disagreements("295109912611193", None, None) == []


@pytest.mark.parametrize("raw", ["295109912611199", "29510991261119X", "2951099126111", "053072A07300443"])
def test_messages_never_quote_the_number(raw: str) -> None:
    with pytest.raises(nir.InvalidNir) as caught:
        nir.normalise(raw)
    text = str(caught.value)
    assert raw not in text
    assert raw[:13] not in text
