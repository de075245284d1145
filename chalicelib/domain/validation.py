"""Pure validation of request bodies, query strings and path parameters.

Every parser collects all the errors of its input before raising one `ValidationFailed`, each
error naming a dotted field path (`patient.address.postal_code`). Messages are built from
constants only: they never quote a submitted value, and third-party exception messages (which
may) are never passed on.

Decisions worth knowing:
- Unknown fields are errors at every level. Their names are echoed only when they look like
  identifiers; any other key (which could itself be personal data) is shown as `?`.
- Names (`last_name`, `first_name`) are NFC-normalised and trimmed, and may contain letters
  (with combining marks), spaces, hyphens, apostrophes (' and ’) and periods; digits and symbols
  are refused. Apostrophes are stored as typed; transliteration is the exporter's business.
- Free text (address line, city, pharmacy name) is NFC-normalised and trimmed; any control,
  format, unassigned or line/paragraph-separator character is refused (checked before trimming,
  so a trailing newline is an error rather than silently dropped).
- An empty string is invalid even for optional fields: omit the field or send null.
- `birth_date` may be "today" anywhere on Earth (up to UTC+14), so a newborn tested overseas on
  the day of birth is accepted.
- `sampled_at` keeps the offset it was given.
- INS traits (`birth_last_name`, `birth_first_names`, `birth_place`, `identity_document`) are
  optional; a birth place must be on the shipped INSEE list. The identity's status is never read
  from the body (an `identity_status` field is refused as unknown): the service derives it.
- `device_id` must be on the shipped EU common list (chalicelib/domain/devices.py), and still on it
  on the sampling day (the day of `sampled_at` in its own offset).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NoReturn, TypeVar

from stdnum import luhn

from chalicelib.domain import nir as nir_rules
from chalicelib.domain import psc
from chalicelib.domain.devices import device_list
from chalicelib.domain.errors import FieldError, ValidationFailed
from chalicelib.domain.identity import IdentityDocument
from chalicelib.domain.insee import is_birth_place
from chalicelib.domain.model import (
    Address,
    Patient,
    RecordStatus,
    Role,
    ScreeningKind,
    ScreeningResult,
    ScreeningTest,
    Sex,
    Submission,
)
from chalicelib.domain.pharmacy_day import FRENCH_ZONES, zone_of_finess

__all__ = [
    "AuditQuery",
    "Invitation",
    "ListQuery",
    "finess_with_check_digit",
    "parse_audit_query",
    "parse_invitation",
    "parse_list_query",
    "parse_pharmacy",
    "parse_pharmacy_settings",
    "parse_result_update",
    "parse_submission",
    "parse_uuid",
    "validate_finess",
]

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

NAME_MAX = 100
ADDRESS_LINE_MAX = 200
CITY_MAX = 100
PHARMACY_NAME_MAX = 200
EMAIL_MAX = 254  # RFC 5321 path limit
PHONE_INPUT_MAX = 40
CURSOR_MAX = 2048
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 50, 100
AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX = 100, 500
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# The earliest time zone is UTC+14: "today" there is the latest plausible birth date.
_EARLIEST_ZONE_AHEAD = timedelta(hours=14)

_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_UNKNOWN_REPORTED = 10
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
# In a query string an unencoded "+" arrives as a space: " hh:mm" at the end can only be an offset.
_DECODED_PLUS_OFFSET = re.compile(r" ([0-9]{2}:[0-9]{2})$")
_DEVICE_ID = re.compile(r"[0-9]{1,10}")
_POSTAL_CODE = re.compile(r"[0-9]{5}")
_INSEE_CODE = re.compile(r"[0-9][0-9AB][0-9]{3}")
_POSTAL_DEPARTEMENT = re.compile(r"0[1-9]|[1-8][0-9]|9[0-5]|97|98")
# 01–95 but not 20 (Corsica is 2A/2B), or 97/98 overseas; then 7 digits.
_FINESS = re.compile(r"(?:0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|97|98)[0-9]{7}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NAME_PUNCTUATION = frozenset(" -'’.")
_INVITABLE_ROLES = (Role.PHARMACIST, Role.PHARMACY_ADMIN)


# --- the error collector ---------------------------------------------------------------------


class _Invalid(Exception):
    """Raised by a field parser; carries a message that never quotes the value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _fail(message: str) -> NoReturn:
    raise _Invalid(message)


class _Errors:
    """Collects FieldErrors; parsers keep going after an error so that all are reported at once."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldError(field, message))

    def check(self, field: str, parse: Callable[[object], T], value: object) -> T | None:
        """`parse(value)`, or None with an error recorded for `field`."""
        try:
            return parse(value)
        except _Invalid as invalid:
            self.add(field, invalid.message)
            return None

    def failure(self) -> ValidationFailed:
        return ValidationFailed(list(self.items))


class _Reader:
    """Reads the fields of one JSON object (or query string), then rejects those it did not read."""

    def __init__(self, raw: object, path: str, errors: _Errors, noun: str = "field") -> None:
        self._path = path
        self._errors = errors
        self._noun = noun
        self._read: set[str] = set()
        self._fields: Mapping[object, object] | None = None
        if isinstance(raw, Mapping):
            self._fields = raw
        else:
            errors.add(path or "body", "must be a JSON object")

    def path(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def required(self, name: str, parse: Callable[[object], T]) -> T | None:
        self._read.add(name)
        if self._fields is None:
            return None
        if name not in self._fields:
            self._errors.add(self.path(name), "is required")
            return None
        return self._errors.check(self.path(name), parse, self._fields[name])

    def optional(self, name: str, parse: Callable[[object], T]) -> T | None:
        """Absent and null both mean None."""
        self._read.add(name)
        value = None if self._fields is None else self._fields.get(name)
        if value is None:
            return None
        return self._errors.check(self.path(name), parse, value)

    def nested(
        self, name: str, parse: Callable[[object, str, _Errors], T | None], *, required: bool
    ) -> T | None:
        self._read.add(name)
        if self._fields is None:
            return None
        if name not in self._fields or (self._fields[name] is None and not required):
            if required:
                self._errors.add(self.path(name), "is required")
            return None
        return parse(self._fields[name], self.path(name), self._errors)

    def finish(self) -> None:
        """Report every field that no parser asked for."""
        if self._fields is None:
            return
        unknown = [key for key in self._fields if key not in self._read]
        shown = sorted(_shown_key(key) for key in unknown)
        for key in shown[:_MAX_UNKNOWN_REPORTED]:
            self._errors.add(self.path(key), f"is not an allowed {self._noun}")
        if len(shown) > _MAX_UNKNOWN_REPORTED:
            self._errors.add(self._path or "body", f"has more {self._noun}s that are not allowed")


def _shown_key(key: object) -> str:
    # A key is submitted data too: only identifier-like names are echoed.
    return key if isinstance(key, str) and _SAFE_KEY.fullmatch(key) else "?"


# --- one small parser per field kind --------------------------------------------------------------


def _string(value: object) -> str:
    if not isinstance(value, str):
        _fail("must be a string")
    return value


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def _text(value: object, max_length: int) -> str:
    """NFC-normalised, trimmed, 1..max_length characters, no control characters."""
    text = _string(value)
    if len(text) > 4 * max_length:  # cheap bound before any per-character work
        _fail(f"must be at most {max_length} characters")
    if any(_is_control(char) for char in text):
        _fail("must not contain control characters")
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        _fail("must not be empty")
    if len(text) > max_length:
        _fail(f"must be at most {max_length} characters")
    return text


def _is_name_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM" or char in _NAME_PUNCTUATION


def _person_name(value: object) -> str:
    name = _text(value, NAME_MAX)
    if not all(_is_name_char(char) for char in name):
        _fail("may contain only letters, spaces, hyphens, apostrophes and periods")
    if not any(unicodedata.category(char)[0] == "L" for char in name):
        _fail("must contain a letter")
    return name


def _address_line(value: object) -> str:
    return _text(value, ADDRESS_LINE_MAX)


def _city(value: object) -> str:
    return _text(value, CITY_MAX)


def _pharmacy_name(value: object) -> str:
    return _text(value, PHARMACY_NAME_MAX)


def _choice(kind: type[E], allowed: tuple[E, ...] | None = None) -> Callable[[object], E]:
    """A parser accepting the string values of `kind` (or of `allowed`, a subset of it)."""
    members = allowed if allowed is not None else tuple(kind)
    message = "must be one of: " + ", ".join(member.value for member in members)

    def parse(value: object) -> E:
        text = _string(value)
        for member in members:
            if text == member.value:
                return member
        _fail(message)

    return parse


_sex = _choice(Sex)
_test_kind = _choice(ScreeningKind)
_test_result = _choice(ScreeningResult)
_record_status = _choice(RecordStatus)
_invitable_role = _choice(Role, _INVITABLE_ROLES)


def _nir(value: object) -> str:
    try:
        return nir_rules.normalise(_string(value))
    except nir_rules.InvalidNir as invalid:
        _fail(invalid.message)


def _iso_date(value: object) -> date:
    text = _string(value)
    if not _DATE.fullmatch(text):
        _fail("must be a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail("is not a valid calendar date")


def _birth_date(value: object, now: datetime) -> date:
    born = _iso_date(value)
    if born > (now.astimezone(UTC) + _EARLIEST_ZONE_AHEAD).date():
        _fail("must not be in the future")
    if born < EARLIEST_BIRTH_DATE:
        _fail("must not be before 1900-01-01")
    return born


def _rfc3339(value: object) -> datetime:
    """An RFC 3339 date-time; a missing offset is an error, never a guess."""
    match = _DATETIME.fullmatch(_string(value))
    if match is None:
        _fail("must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)")
    offset = match["offset"]
    if offset is None:
        _fail("must include a time zone offset (Z or ±hh:mm)")
    seconds, _, fraction = match["time"].partition(".")
    fraction = f".{fraction[:6]}" if fraction else ""  # datetime keeps microseconds
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{match['date']}T{seconds}{fraction}{offset}")
    except ValueError:
        _fail("is not a valid date-time")


def _query_datetime(value: object) -> datetime:
    return _rfc3339(_DECODED_PLUS_OFFSET.sub(r"+\1", _string(value)))


def _sampled_at(value: object, now: datetime, max_age: timedelta, skew: timedelta) -> datetime:
    sampled = _rfc3339(value)
    if sampled > now + skew:
        _fail("must not be in the future")
    if sampled < now - max_age:
        _fail(f"must be within the last {max_age.days} days")
    return sampled


def _device_id(value: object) -> str:
    text = _string(value)
    if not _DEVICE_ID.fullmatch(text):
        _fail("must be an EU common list device id: 1 to 10 digits")
    if device_list().get(text) is None:
        _fail("is not on the EU common list of test devices")
    return text


_identity_document = _choice(IdentityDocument)


def _birth_place(value: object) -> str:
    text = _string(value).strip().upper()
    if not _INSEE_CODE.fullmatch(text):
        _fail("must be an INSEE code: 5 characters (a commune, 2A/2B in Corsica, or 99 and a country)")
    if not is_birth_place(text):
        _fail("is not a commune or country of INSEE's code list")
    return text


def _email(value: object) -> str:
    text = _string(value).strip()
    if not text:
        _fail("must not be empty (omit it or send null)")
    if len(text) > EMAIL_MAX:
        _fail(f"must be at most {EMAIL_MAX} characters")
    # Imported when first needed: email_validator compiles its grammar at import (tens of ms), which
    # every cold start (the scheduled functions too) would pay for the few records with an e-mail.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        # the library's message may quote the address
        _fail("is not a valid e-mail address")


def _phone(value: object) -> str:
    text = _string(value).strip()
    if not text:
        _fail("must not be empty (omit it or send null)")
    if len(text) > PHONE_INPUT_MAX:
        _fail(f"must be at most {PHONE_INPUT_MAX} characters")
    import phonenumbers  # when first needed, as email_validator: its import costs tens of ms

    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        _fail("is not a phone number")
    if number.extension:
        _fail("must not have an extension")
    if not phonenumbers.is_valid_number(number):
        _fail("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _postal_code(value: object) -> str:
    text = _string(value).strip()
    if not _POSTAL_CODE.fullmatch(text):
        _fail("must be 5 digits")
    if not _POSTAL_DEPARTEMENT.fullmatch(text[:2]):
        _fail("must start with a French département number (01–95, 97 or 98)")
    return text


def _finess(value: object) -> str:
    number = _string(value).upper()
    if len(number) != 9:
        _fail("must have 9 characters")
    if not _FINESS.fullmatch(number):
        _fail("must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits")
    if not luhn.is_valid(_finess_digits(number)):
        _fail("has a wrong check digit")
    return number


def _finess_digits(number: str) -> str:
    # FINESS computes Corsica's key with A and B read as 0.
    return number.replace("A", "0").replace("B", "0")


def _limit(maximum: int) -> Callable[[object], int]:
    message = f"must be an integer from 1 to {maximum}"

    def parse(value: object) -> int:
        text = _string(value)
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            _fail(message)
        limit = int(text)
        if not 1 <= limit <= maximum:
            _fail(message)
        return limit

    return parse


def _cursor(value: object) -> str:
    text = _string(value)
    if len(text) > CURSOR_MAX:
        _fail(f"must be at most {CURSOR_MAX} characters")
    if not _CURSOR.fullmatch(text):
        _fail("is not a valid cursor")
    return text


# --- objects ----------------------------------------------------------------------------------------


def _address(raw: object, path: str, errors: _Errors) -> Address | None:
    reader = _Reader(raw, path, errors)
    line = reader.required("line", _address_line)
    postal_code = reader.required("postal_code", _postal_code)
    city = reader.required("city", _city)
    reader.finish()
    if line is None or postal_code is None or city is None:
        return None
    return Address(line=line, postal_code=postal_code, city=city)


def _patient(raw: object, path: str, errors: _Errors, *, now: datetime) -> Patient | None:
    reader = _Reader(raw, path, errors)
    nir = reader.required("nir", _nir)
    last_name = reader.required("last_name", _person_name)
    first_name = reader.required("first_name", _person_name)
    birth_date = reader.required("birth_date", lambda value: _birth_date(value, now))
    sex = reader.required("sex", _sex)
    email = reader.optional("email", _email)
    phone = reader.optional("phone", _phone)
    address = reader.nested("address", _address, required=False)
    birth_last_name = reader.optional("birth_last_name", _person_name)
    birth_first_names = reader.optional("birth_first_names", _person_name)
    birth_place = reader.optional("birth_place", _birth_place)
    identity_document = reader.optional("identity_document", _identity_document)
    reader.finish()
    if nir is not None:
        for message in nir_rules.disagreements(nir, sex, birth_date):
            errors.add(reader.path("nir"), message)
    if nir is None or last_name is None or first_name is None or birth_date is None or sex is None:
        return None
    # An invalid optional field leaves None here; its error makes the whole parse fail anyway.
    return Patient(
        nir=nir,
        last_name=last_name,
        first_name=first_name,
        birth_date=birth_date,
        sex=sex,
        email=email,
        phone=phone,
        address=address,
        birth_last_name=birth_last_name,
        birth_first_names=birth_first_names,
        birth_place=birth_place,
        identity_document=identity_document,
    )


def _test(
    raw: object, path: str, errors: _Errors, *, now: datetime, max_age: timedelta, skew: timedelta
) -> ScreeningTest | None:
    reader = _Reader(raw, path, errors)
    kind = reader.required("kind", _test_kind)
    device_id = reader.required("device_id", _device_id)
    sampled_at = reader.required("sampled_at", lambda value: _sampled_at(value, now, max_age, skew))
    result = reader.optional("result", _test_result)
    reader.finish()
    if kind is None or device_id is None or sampled_at is None:
        return None
    device = device_list().get(device_id)
    if device is not None and not device.usable_on(sampled_at.date()):
        errors.add(reader.path("device_id"), "was no longer on the EU common list on the sampling day")
        return None
    return ScreeningTest(kind=kind, device_id=device_id, sampled_at=sampled_at, result=result)


def _require_aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")  # a programming error, not bad input


# --- public API ---------------------------------------------------------------------------------------


def parse_submission(
    body: object, *, now: datetime, max_age_days: int, clock_skew: timedelta = timedelta(minutes=5)
) -> Submission:
    """A POST /v1/tests body, fully validated and normalised (see CONTRACT.md, "A test record")."""
    _require_aware(now)
    errors = _Errors()
    root = _Reader(body, "", errors)
    patient = root.nested(
        "patient", lambda raw, path, errs: _patient(raw, path, errs, now=now), required=True
    )
    test = root.nested(
        "test",
        lambda raw, path, errs: _test(
            raw, path, errs, now=now, max_age=timedelta(days=max_age_days), skew=clock_skew
        ),
        required=True,
    )
    root.finish()
    if errors.items or patient is None or test is None:
        raise errors.failure()
    return Submission(patient=patient, test=test)


def parse_result_update(body: object) -> ScreeningResult | None:
    """A PUT /v1/tests/{id}/result body: `result` is required; null sets the record back to pending."""
    errors = _Errors()
    reader = _Reader(body, "", errors)
    result = reader.required("result", lambda value: None if value is None else _test_result(value))
    reader.finish()
    if errors.items:
        raise errors.failure()
    return result


def validate_finess(value: object, field: str = "finess") -> str:
    """A FINESS number (9 characters, département prefix, Luhn key), upper-cased."""
    errors = _Errors()
    finess = errors.check(field, _finess, value)
    if finess is None:
        raise errors.failure()
    return finess


def finess_with_check_digit(prefix8: str) -> str:
    """Complete 8 characters into a valid FINESS number (for tests and seeding)."""
    prefix = prefix8.upper()
    if len(prefix) != 8:
        raise ValueError("a FINESS prefix has 8 characters")
    return prefix + luhn.calc_check_digit(_finess_digits(prefix))


def _time_zone(value: object) -> str:
    text = _string(value)
    if text not in FRENCH_ZONES:
        _fail("must be one of: " + ", ".join(FRENCH_ZONES))
    return text


def parse_pharmacy(body: object) -> tuple[str, str, str]:
    """A POST /v1/admin/pharmacies body: (finess, name, time zone). The zone, when not given, is
    the FINESS département's (chalicelib/domain/pharmacy_day.py)."""
    errors = _Errors()
    reader = _Reader(body, "", errors)
    finess = reader.required("finess", _finess)
    name = reader.required("name", _pharmacy_name)
    time_zone = reader.optional("time_zone", _time_zone)
    reader.finish()
    if errors.items or finess is None or name is None:
        raise errors.failure()
    return finess, name, time_zone or zone_of_finess(finess)


@dataclass(frozen=True)
class Invitation:
    """Exactly one of `email` (a Cognito user) and `national_id` (a Pro Santé Connect professional)."""

    role: Role
    email: str | None = None
    national_id: str | None = None


def _national_id(value: object) -> str:
    text = _string(value).strip().upper()
    if not psc.is_national_id(text):
        _fail("must be 10 to 20 letters or digits (RPPS professionals: 8 followed by the RPPS number)")
    return text


def _rpps(value: object) -> str:
    text = _string(value).strip()
    if not psc.is_rpps(text):
        _fail("must be 11 digits")
    return psc.national_id_of_rpps(text)


def parse_invitation(body: object) -> Invitation:
    """A POST /v1/admin/pharmacies/{finess}/members body: `role` and `email` (a Cognito invitation),
    or `role` and one of `national_id` / `rpps` (a Pro Santé Connect member)."""
    errors = _Errors()
    reader = _Reader(body, "", errors)
    by_psc = isinstance(body, Mapping) and ("national_id" in body or "rpps" in body)
    email = reader.optional("email", _email) if by_psc else reader.required("email", _email)
    national_id = reader.optional("national_id", _national_id)
    rpps = reader.optional("rpps", _rpps)
    role = reader.required("role", _invitable_role)
    reader.finish()
    if (
        by_psc
        and isinstance(body, Mapping)
        and ("email" in body or ("national_id" in body and "rpps" in body))
    ):
        errors.add("national_id", "send one of email, national_id and rpps")
    if errors.items or role is None or (email is None and national_id is None and rpps is None):
        raise errors.failure()
    return Invitation(role=role, email=None if by_psc else email, national_id=national_id or rpps)


def parse_pharmacy_settings(body: object) -> bool:
    """A PUT /v1/admin/pharmacies/{finess}/settings body: `{"psc_required": true|false}`."""
    errors = _Errors()
    reader = _Reader(body, "", errors)
    required = reader.required("psc_required", _boolean)
    reader.finish()
    if errors.items or required is None:
        raise errors.failure()
    return required


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        _fail("must be true or false")
    return value


@dataclass(frozen=True)
class ListQuery:
    """GET /v1/tests query: the day listed (query parameter `date`), filters and paging."""

    day: date
    status: RecordStatus | None = None
    limit: int = LIST_LIMIT_DEFAULT
    cursor: str | None = None


@dataclass(frozen=True)
class AuditQuery:
    """GET /v1/audit query: an optional [from_, to] window (query `from`, `to`) and paging."""

    from_: datetime | None = None
    to: datetime | None = None
    limit: int = AUDIT_LIMIT_DEFAULT
    cursor: str | None = None


def parse_list_query(params: Mapping[str, str] | None, *, today: date) -> ListQuery:
    errors = _Errors()
    reader = _Reader(params if params is not None else {}, "", errors, noun="query parameter")
    day = reader.optional("date", _iso_date)
    status = reader.optional("status", _record_status)
    limit = reader.optional("limit", _limit(LIST_LIMIT_MAX))
    cursor = reader.optional("cursor", _cursor)
    reader.finish()
    if errors.items:
        raise errors.failure()
    return ListQuery(
        day=day or today,
        status=status,
        limit=limit if limit is not None else LIST_LIMIT_DEFAULT,
        cursor=cursor,
    )


def parse_audit_query(params: Mapping[str, str] | None, *, now: datetime) -> AuditQuery:
    """`from` later than `now` is refused: such a window can only be a client's mistake."""
    _require_aware(now)
    errors = _Errors()
    reader = _Reader(params if params is not None else {}, "", errors, noun="query parameter")
    start = reader.optional("from", _query_datetime)
    end = reader.optional("to", _query_datetime)
    limit = reader.optional("limit", _limit(AUDIT_LIMIT_MAX))
    cursor = reader.optional("cursor", _cursor)
    reader.finish()
    if start is not None and start > now:
        errors.add("from", "must not be in the future")
    if start is not None and end is not None and start > end:
        errors.add("from", "must not be later than to")
    if errors.items:
        raise errors.failure()
    return AuditQuery(
        from_=start,
        to=end,
        limit=limit if limit is not None else AUDIT_LIMIT_DEFAULT,
        cursor=cursor,
    )


def parse_uuid(value: object, field: str) -> str:
    """An Idempotency-Key header or a record id: a hyphenated UUID, returned lower-case."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise ValidationFailed([FieldError(field, "must be a UUID (8-4-4-4-12 hexadecimal digits)")])
    return str(uuid.UUID(value))
