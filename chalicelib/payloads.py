"""Every request body, query string and response body of the API, declared once (chalicelib/schema.py):
the declaration parses requests into domain objects and is what the OpenAPI document
(chalicelib/api/openapi.py) publishes as components.schemas and parameters.

Request schemas are exactly as strict as the server wherever a JSON Schema can say it (types,
required fields, unknown fields, enums, patterns); rules a schema cannot say (a NIR's key and its
agreement with sex and birth date, date ranges, NFC-normalised lengths, a FINESS's Luhn key, INSEE's
list, the EU device list on the sampling day) are the parsers', answered with 400.

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

import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain import finess as finess_rules
from chalicelib.domain import nir as nir_rules
from chalicelib.domain import psc
from chalicelib.domain.delivery import ErrorCategory, Journey
from chalicelib.domain.devices import device_list
from chalicelib.domain.errors import FieldError, ValidationFailed
from chalicelib.domain.identity import IdentityDocument, IdentityStatus
from chalicelib.domain.insee import is_birth_place
from chalicelib.domain.model import (
    Address,
    DeliveryState,
    MessageKind,
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
from chalicelib.domain.stats import MAX_RANGE_DAYS, StatsQuery
from chalicelib.schema import (
    Field,
    Invalid,
    Kind,
    Obj,
    OneOf,
    Pattern,
    Read,
    Schema,
    Shape,
    array,
    choice,
    fail,
    kind,
    one_of_strings,
    out,
    string,
)

__all__ = [
    "AuditQuery",
    "Invitation",
    "ListQuery",
    "finess_with_check_digit",
    "parse_audit_query",
    "parse_invitation",
    "parse_list_query",
    "parse_login_request",
    "parse_patient_query",
    "parse_pharmacy",
    "parse_pharmacy_settings",
    "parse_result_update",
    "parse_stats_query",
    "parse_submission",
    "parse_uuid",
    "validate_finess",
]

NAME_MAX = 100
ADDRESS_LINE_MAX = 200
CITY_MAX = 100
PHARMACY_NAME_MAX = 200
EMAIL_MAX = 254  # RFC 5321 path limit
PHONE_INPUT_MAX = 40
CURSOR_MAX = 2048
LOGIN_ID_MAX = 128
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 50, 100
AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX = 100, 500
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# The earliest time zone is UTC+14: "today" there is the latest plausible birth date.
_EARLIEST_ZONE_AHEAD = timedelta(hours=14)

# --- the patterns, each once: the parsers full-match them, the schemas carry them ------------------

UUID = Pattern("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CURSOR = Pattern("[A-Za-z0-9_-]+={0,2}")
# 01–95 but not 20 (Corsica is 2A/2B), or 97/98 overseas; then 7 digits.
FINESS = Pattern(finess_rules.FINESS_REGEX)
INSEE_CODE = Pattern("[0-9][0-9ABab][0-9]{3}")
NORMALISED_NIR = Pattern("[0-9]{5}[0-9AB][0-9]{9}")
NATIONAL_ID = Pattern("[0-9A-Za-z]{10,20}")
RPPS = Pattern("[0-9]{11}")
SECONDS = Pattern("[0-9]+")
_DATE = Pattern("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = Pattern(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_DEVICE_ID = Pattern("[0-9]{1,10}")
_POSTAL_CODE = Pattern("[0-9]{5}")
_POSTAL_DEPARTEMENT = Pattern("(0[1-9]|[1-8][0-9]|9[0-5]|97|98)")
_NAME_PUNCTUATION = frozenset(" -'’.")
_INVITABLE_ROLES = (Role.PHARMACIST, Role.PHARMACY_ADMIN)


class Context:
    """What the context-dependent rules compare with: the time of the request and the limits."""

    __slots__ = ("max_age", "now", "skew")

    def __init__(
        self, now: datetime, max_age: timedelta = timedelta(0), skew: timedelta = timedelta(minutes=5)
    ) -> None:
        self.now = now
        self.max_age = max_age
        self.skew = skew


# --- the field rules ---------------------------------------------------------------------------


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def _text(max_length: int) -> Kind[str]:
    """NFC-normalised, trimmed, 1..max_length characters, no control characters."""

    def parse(value: object) -> str:
        text = string(value)
        if len(text) > 4 * max_length:  # cheap bound before any per-character work
            fail(f"must be at most {max_length} characters")
        if any(_is_control(char) for char in text):
            fail("must not contain control characters")
        text = unicodedata.normalize("NFC", text).strip()
        if not text:
            fail("must not be empty")
        if len(text) > max_length:
            fail(f"must be at most {max_length} characters")
        return text

    return kind(parse, {"type": "string"})


def _is_name_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM" or char in _NAME_PUNCTUATION


def _person_name(value: object) -> str:
    name = _TEXT_NAME.parse(value, None)
    if not all(_is_name_char(char) for char in name):
        fail("may contain only letters, spaces, hyphens, apostrophes and periods")
    if not any(unicodedata.category(char)[0] == "L" for char in name):
        fail("must contain a letter")
    return name


def _nir(value: object) -> str:
    try:
        return nir_rules.normalise(string(value))
    except nir_rules.InvalidNir as invalid:
        fail(invalid.message)


def _iso_date(value: object) -> date:
    text = string(value)
    if not _DATE.matches(text):
        fail("must be a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail("is not a valid calendar date")


def _birth_date(value: object, context: Context) -> date:
    born = _iso_date(value)
    if born > (context.now.astimezone(UTC) + _EARLIEST_ZONE_AHEAD).date():
        fail("must not be in the future")
    if born < EARLIEST_BIRTH_DATE:
        fail("must not be before 1900-01-01")
    return born


def _rfc3339(value: object) -> datetime:
    """An RFC 3339 date-time; a missing offset is an error, never a guess."""
    match = _DATETIME.fullmatch(string(value))
    if match is None:
        fail("must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)")
    offset = match["offset"]
    if offset is None:
        fail("must include a time zone offset (Z or ±hh:mm)")
    seconds, _, fraction = match["time"].partition(".")
    fraction = f".{fraction[:6]}" if fraction else ""  # datetime keeps microseconds
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{seconds}{fraction}{offset}")
        parsed.astimezone(UTC)  # it must name an instant: 0001-01-01T00:00:00+01:00 has none
    except (ValueError, OverflowError):
        fail("is not a valid date-time")
    return parsed


def _query_datetime(value: object) -> datetime:
    # In a query string an unencoded "+" arrives as a space: " hh:mm" at the end can only be an offset.
    text = string(value)
    if len(text) > 6 and text[-6] == " " and _TIME_OF_OFFSET.matches(text[-5:]):
        text = f"{text[:-6]}+{text[-5:]}"
    return _rfc3339(text)


_TIME_OF_OFFSET = Pattern("[0-9]{2}:[0-9]{2}")


def _sampled_at(value: object, context: Context) -> datetime:
    sampled = _rfc3339(value)
    if sampled > context.now + context.skew:
        fail("must not be in the future")
    if sampled < context.now - context.max_age:
        fail(f"must be within the last {context.max_age.days} days")
    return sampled


def _device_id(value: object) -> str:
    text = string(value)
    if not _DEVICE_ID.matches(text):
        fail("must be an EU common list device id: 1 to 10 digits")
    if device_list().get(text) is None:
        fail("is not on the EU common list of test devices")
    return text


def _birth_place(value: object) -> str:
    text = string(value).strip().upper()
    if not INSEE_CODE.matches(text):
        fail("must be an INSEE code: 5 characters (a commune, 2A/2B in Corsica, or 99 and a country)")
    if not is_birth_place(text):
        fail("is not a commune or country of INSEE's code list")
    return text


def _trimmed(value: object, max_length: int) -> str:
    """An optional contact field's text: trimmed, not empty, bounded before any library sees it."""
    text = string(value).strip()
    if not text:
        fail("must not be empty (omit it or send null)")
    if len(text) > max_length:
        fail(f"must be at most {max_length} characters")
    return text


def _email(value: object) -> str:
    text = _trimmed(value, EMAIL_MAX)
    # Imported when first needed: email_validator compiles its grammar at import (tens of ms), which
    # every cold start (the scheduled functions too) would pay for the few records with an e-mail.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        # the library's message may quote the address
        fail("is not a valid e-mail address")


def _phone(value: object) -> str:
    text = _trimmed(value, PHONE_INPUT_MAX)
    import phonenumbers  # when first needed, as email_validator: its import costs tens of ms

    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        fail("is not a phone number")
    if number.extension:
        fail("must not have an extension")
    if not phonenumbers.is_valid_number(number):
        fail("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _postal_code(value: object) -> str:
    text = string(value).strip()
    if not _POSTAL_CODE.matches(text):
        fail("must be 5 digits")
    if not _POSTAL_DEPARTEMENT.matches(text[:2]):
        fail("must start with a French département number (01–95, 97 or 98)")
    return text


def _finess(value: object) -> str:
    number = string(value).upper()
    if len(number) != 9:
        fail("must have 9 characters")
    if not FINESS.matches(number):
        fail("must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits")
    if not finess_rules.has_valid_key(number):
        fail("has a wrong check digit")
    return number


def _limit(maximum: int) -> Kind[int]:
    message = f"must be an integer from 1 to {maximum}"

    def parse(value: object) -> int:
        text = string(value)
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            fail(message)
        limit = int(text)
        if not 1 <= limit <= maximum:
            fail(message)
        return limit

    return kind(parse, {"type": "integer", "minimum": 1, "maximum": maximum})


def _cursor(value: object) -> str:
    text = string(value)
    if len(text) > CURSOR_MAX:
        fail(f"must be at most {CURSOR_MAX} characters")
    if not CURSOR.matches(text):
        fail("is not a valid cursor")
    return text


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        fail("must be true or false")
    return value


def _national_id(value: object) -> str:
    text = string(value).strip().upper()
    if not psc.is_national_id(text):
        fail("must be 10 to 20 letters or digits (RPPS professionals: 8 followed by the RPPS number)")
    return text


def _rpps(value: object) -> str:
    text = string(value).strip()
    if not psc.is_rpps(text):
        fail("must be 11 digits")
    return psc.national_id_of_rpps(text)


# --- the kinds -----------------------------------------------------------------------------------

STRING = kind(string, {"type": "string"})
TIMESTAMP = out({"type": "string", "format": "date-time", "description": "RFC 3339, UTC (Z)."})
DAY = kind(_iso_date, {"type": "string", "format": "date"})
ID = out({"type": "string", "format": "uuid"})
COUNT = out({"type": "integer", "minimum": 0})
POSITIVE = out({"type": "integer", "minimum": 1})
BOOLEAN = kind(_boolean, {"type": "boolean"})
_TEXT_NAME = _text(NAME_MAX)
NAME = kind(_person_name, {"type": "string"})
NIR = kind(_nir, {"type": "string"})
FINESS_NUMBER = kind(_finess, {"type": "string"})
EMAIL = kind(_email, {"type": "string"})
PHONE = kind(_phone, {"type": "string"})
CURSOR_PARAM = kind(_cursor, {"type": "string", "pattern": CURSOR.anchored, "maxLength": CURSOR_MAX})
QUERY_TIME = kind(_query_datetime, {"type": "string", "format": "date-time"})
SEX = choice(Sex)
KIND = choice(ScreeningKind)
RESULT = choice(ScreeningResult)
STATUS = choice(RecordStatus)
IDENTITY_DOCUMENT = choice(IdentityDocument)
INVITABLE_ROLE = choice(Role, _INVITABLE_ROLES)
TIME_ZONE = one_of_strings(FRENCH_ZONES)
# the EU list is read when first needed (a create, the document), not at import
DEVICE_ID = kind(_device_id, lambda: {"type": "string", "enum": sorted(device_list().devices, key=int)})
NATIONAL_ID_KIND = kind(
    _national_id,
    {
        "type": "string",
        "pattern": NATIONAL_ID.anchored,
        "description": "The PSC national identifier (RPPS professionals: 8 followed by the RPPS number).",
    },
)
RPPS_KIND = kind(
    _rpps, {"type": "string", "pattern": RPPS.anchored, "description": "The 11-digit RPPS number."}
)
# Path and header parameters (their parsers: parse_uuid, validate_finess)
UUID_PARAM: Schema = {"type": "string", "format": "uuid", "pattern": UUID.anchored}
FINESS_PARAM: Schema = {"type": "string", "pattern": FINESS.anchored}
LOGIN_ID_PARAM: Schema = {"type": "string", "maxLength": LOGIN_ID_MAX}
SECONDS_HEADER: Schema = {"type": "string", "pattern": SECONDS.anchored}


# --- requests ----------------------------------------------------------------------------------------


def _address(read: Read) -> Address | None:
    if not read.has("line", "postal_code", "city"):
        return None
    return Address(line=read["line"], postal_code=read["postal_code"], city=read["city"])


ADDRESS_INPUT: Obj[Address] = Obj(
    [
        Field("line", _text(ADDRESS_LINE_MAX), description=f"1 to {ADDRESS_LINE_MAX} characters."),
        Field(
            "postal_code",
            kind(_postal_code, {"type": "string"}),
            description="5 digits, a French département.",
        ),
        Field("city", _text(CITY_MAX), description=f"1 to {CITY_MAX} characters."),
    ],
    _address,
    name="AddressInput",
)


def _patient(read: Read) -> Patient | None:
    nir = read["nir"]
    if nir is not None:
        for message in nir_rules.disagreements(nir, read["sex"], read["birth_date"]):
            read.error("nir", message)
    if not read.has("nir", "last_name", "first_name", "birth_date", "sex"):
        return None
    # An invalid optional field leaves None here; its error makes the whole parse fail anyway.
    return Patient(
        nir=nir,
        last_name=read["last_name"],
        first_name=read["first_name"],
        birth_date=read["birth_date"],
        sex=read["sex"],
        email=read["email"],
        phone=read["phone"],
        address=read["address"],
        birth_last_name=read["birth_last_name"],
        birth_first_names=read["birth_first_names"],
        birth_place=read["birth_place"],
        identity_document=read["identity_document"],
    )


PATIENT_INPUT: Obj[Patient] = Obj(
    [
        Field(
            "nir",
            NIR,
            description="15 digits with its key (spaces allowed; Corsica 2A/2B); key = 97 − "
            "(first 13 digits mod 97); must agree with sex and birth_date.",
        ),
        Field("last_name", NAME, description=f"Letters, 1 to {NAME_MAX}."),
        Field("first_name", NAME, description=f"Letters, 1 to {NAME_MAX}."),
        Field(
            "birth_date",
            Kind(_birth_date, DAY.schema),
            description="1900-01-01 to today.",
        ),
        Field("sex", SEX),
        Field("email", EMAIL, required=False, nullable=True, description="Optional."),
        Field("phone", PHONE, required=False, nullable=True, description="Optional; stored in E.164."),
        Field("address", ADDRESS_INPUT, required=False, nullable=True),
        # the INS traits (the identity's status is never submitted)
        Field(
            "birth_last_name",
            NAME,
            required=False,
            nullable=True,
            description="Optional: the birth family name (nom de naissance), beside last_name.",
        ),
        Field(
            "birth_first_names",
            NAME,
            required=False,
            nullable=True,
            description="Optional: the first names as on the birth record, space-separated.",
        ),
        Field(
            "birth_place",
            kind(_birth_place, {"type": "string", "pattern": INSEE_CODE.anchored}),
            required=False,
            nullable=True,
            description="Optional: the INSEE code of the birth commune (2A/2B in Corsica), or 99 and "
            "the country's code for a birth abroad; checked against INSEE's list.",
        ),
        Field(
            "identity_document",
            IDENTITY_DOCUMENT,
            required=False,
            nullable=True,
            description="Optional: the identity document seen at the counter, or none.",
        ),
    ],
    _patient,
    name="PatientInput",
)


def _test(read: Read) -> ScreeningTest | None:
    if not read.has("kind", "device_id", "sampled_at"):
        return None
    device = device_list().get(read["device_id"])
    if device is not None and not device.usable_on(read["sampled_at"].date()):
        read.error("device_id", "was no longer on the EU common list on the sampling day")
        return None
    return ScreeningTest(
        kind=read["kind"], device_id=read["device_id"], sampled_at=read["sampled_at"], result=read["result"]
    )


TEST_INPUT: Obj[ScreeningTest] = Obj(
    [
        Field("kind", KIND),
        Field(
            "device_id",
            DEVICE_ID,
            description=lambda: (
                "The test device's id on the EU common list of rapid antigen tests (the "
                f"DCC value set of {device_list().value_set_date.isoformat()}); a device taken off the list "
                "is refused for tests sampled from the day it left."
            ),
        ),
        Field(
            "sampled_at",
            Kind(_sampled_at, {"type": "string", "format": "date-time"}),
            description="RFC 3339 with an offset; not in the future, within the retention period.",
        ),
        Field("result", RESULT, required=False, nullable=True, description="Null: pending."),
    ],
    _test,
    name="TestInput",
)

SUBMISSION: Obj[Submission] = Obj(
    [Field("patient", PATIENT_INPUT), Field("test", TEST_INPUT)],
    lambda read: (
        Submission(patient=read["patient"], test=read["test"]) if read.has("patient", "test") else None
    ),
    name="Submission",
)


# a tuple: the parsed value, null included (None alone would mean "nothing parsed")
RESULT_UPDATE: Obj[tuple[ScreeningResult | None]] = Obj(
    [Field("result", RESULT, nullable=True)],
    lambda read: (read["result"],),
    name="ResultUpdate",
    description="Null sets the record back to pending.",
)

PHARMACY_INPUT: Obj[tuple[str, str, str]] = Obj(
    [
        Field("finess", FINESS_NUMBER, description="9 characters with its Luhn key."),
        Field("name", _text(PHARMACY_NAME_MAX), description=f"1 to {PHARMACY_NAME_MAX} characters."),
        Field(
            "time_zone",
            TIME_ZONE,
            required=False,
            description="Optional: the zone of the pharmacy's days (listing, today, statistics, "
            "retention); by default its FINESS département's. Fixed once onboarded.",
        ),
    ],
    lambda read: (
        (read["finess"], read["name"], read["time_zone"] or zone_of_finess(read["finess"]))
        if read.has("finess", "name")
        else None
    ),
    name="PharmacyInput",
)


@dataclass(frozen=True)
class Invitation:
    """Exactly one of `email` (a Cognito user) and `national_id` (a Pro Santé Connect professional)."""

    role: Role
    email: str | None = None
    national_id: str | None = None


_EMAIL = Field("email", EMAIL)
_NATIONAL_ID = Field("national_id", NATIONAL_ID_KIND)
_RPPS = Field("rpps", RPPS_KIND)
_ROLE = Field("role", INVITABLE_ROLE)


def _invitation(read: Read) -> Invitation | None:
    raw = read.raw
    by_psc = "national_id" in raw or "rpps" in raw
    if not by_psc and raw.get("email") is None:
        read.error("email", "is required" if "email" not in raw else "must be a string")
    if by_psc and ("email" in raw or ("national_id" in raw and "rpps" in raw)):
        read.error("national_id", "send one of email, national_id and rpps")
    elif by_psc:  # the one identifier sent: null is no identifier (and would name no field)
        name = "national_id" if "national_id" in raw else "rpps"
        if raw[name] is None:
            read.error(name, "must be a string")
    email, national_id = read["email"], read["national_id"] or read["rpps"]
    if read["role"] is None or (email is None and national_id is None):
        return None
    return Invitation(role=read["role"], email=None if by_psc else email, national_id=national_id)


# One reader over the three shapes' fields (the same Field declarations), which decides the shape.
_ANY_INVITATION: Obj[Invitation] = Obj(
    [
        Field("email", EMAIL, required=False),
        Field("national_id", NATIONAL_ID_KIND, required=False),
        Field("rpps", RPPS_KIND, required=False),
        _ROLE,
    ],
    _invitation,
)
INVITATION: OneOf[Invitation] = OneOf(
    [Obj([_EMAIL, _ROLE]), Obj([_NATIONAL_ID, _ROLE]), Obj([_RPPS, _ROLE])],
    _ANY_INVITATION.read,
    name="Invitation",
    description="By e-mail: a Cognito invitation. By national identifier or RPPS: a Pro Santé Connect "
    "member, vouched for by PSC and the national directory at each login.",
)

PHARMACY_SETTINGS: Obj[bool] = Obj(
    [Field("psc_required", BOOLEAN)],
    lambda read: read["psc_required"],
    name="PharmacySettings",
    description="psc_required: the pharmacy's pharmacists must log in with Pro Santé Connect (e-CPS); "
    "its admins keep their Cognito login.",
)

PATIENT_QUERY: Obj[str] = Obj(
    [Field("nir", NIR, description="The patient's NIR (spaces allowed).")],
    lambda read: read["nir"],
    name="PatientQuery",
    description="In the body, never in a URL: the NIR must not reach an access log.",
)


def _login(read: Read) -> str | None:
    if (read.raw.get("national_id") is None) == (read.raw.get("rpps") is None):
        read.error("national_id", "send exactly one of national_id and rpps")
        return None
    found: str | None = read["national_id"] or read["rpps"]
    return found


PSC_LOGIN_REQUEST: OneOf[str] = OneOf(
    [Obj([_NATIONAL_ID]), Obj([_RPPS])],
    Obj(
        [Field("national_id", NATIONAL_ID_KIND, required=False), Field("rpps", RPPS_KIND, required=False)],
        _login,
    ).read,
    name="PscLoginRequest",
)


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


def _query(fields: list[Field], build: Any) -> Obj[Any]:
    return Obj(fields, build, noun="query parameter")


LIST_QUERY: Obj[dict[str, Any]] = _query(
    [
        Field(
            "date",
            DAY,
            required=False,
            description="A day of the pharmacy's time zone; by default its today.",
        ),
        Field("status", STATUS, required=False),
        Field("limit", _limit(LIST_LIMIT_MAX), required=False),
        Field("cursor", CURSOR_PARAM, required=False),
    ],
    lambda read: read.values,
)


def _audit_query(read: Read) -> AuditQuery:
    start, end = read["from"], read["to"]
    if start is not None and start > read.context.now:
        read.error("from", "must not be in the future")
    if start is not None and end is not None and start > end:
        read.error("from", "must not be later than to")
    limit = read["limit"]
    return AuditQuery(
        from_=start, to=end, limit=limit if limit is not None else AUDIT_LIMIT_DEFAULT, cursor=read["cursor"]
    )


AUDIT_QUERY: Obj[AuditQuery] = _query(
    [
        Field("from", QUERY_TIME, required=False),
        Field("to", QUERY_TIME, required=False),
        Field("limit", _limit(AUDIT_LIMIT_MAX), required=False),
        Field("cursor", CURSOR_PARAM, required=False),
    ],
    _audit_query,
)


def _stats_query(read: Read) -> StatsQuery | None:
    start, end = read["from"], read["to"]
    if start is None or end is None:
        return None
    if start > end:
        read.error("from", "must not be later than to")
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        read.error("to", f"the range may span at most {MAX_RANGE_DAYS} days")
    return StatsQuery(start, end)


STATS_QUERY: Obj[StatsQuery] = _query(
    [
        Field("from", DAY),
        Field("to", DAY, description=f"At most {MAX_RANGE_DAYS} days after from (inclusive range)."),
    ],
    _stats_query,
)


# --- the parsers the services call -------------------------------------------------------------------


def _require_aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")  # a programming error, not bad input


def parse_submission(
    body: object, *, now: datetime, max_age_days: int, clock_skew: timedelta = timedelta(minutes=5)
) -> Submission:
    """A POST /v1/tests body, fully validated and normalised (see CONTRACT.md, "A test record")."""
    _require_aware(now)
    return SUBMISSION.parse(body, Context(now=now, max_age=timedelta(days=max_age_days), skew=clock_skew))


def parse_result_update(body: object) -> ScreeningResult | None:
    """A PUT /v1/tests/{id}/result body: `result` is required; null sets the record back to pending."""
    return RESULT_UPDATE.parse(body)[0]


def parse_pharmacy(body: object) -> tuple[str, str, str]:
    """A POST /v1/admin/pharmacies body: (finess, name, time zone). The zone, when not given, is
    the FINESS département's (chalicelib/domain/pharmacy_day.py)."""
    return PHARMACY_INPUT.parse(body)


def parse_invitation(body: object) -> Invitation:
    """A POST /v1/admin/pharmacies/{finess}/members body: `role` and `email` (a Cognito invitation),
    or `role` and one of `national_id` / `rpps` (a Pro Santé Connect member)."""
    return INVITATION.parse(body)


def parse_pharmacy_settings(body: object) -> bool:
    """A PUT /v1/admin/pharmacies/{finess}/settings body: `{"psc_required": true|false}`."""
    return PHARMACY_SETTINGS.parse(body)


def parse_patient_query(body: object) -> str:
    """`{"nir": "..."}` -> the normalised NIR."""
    return PATIENT_QUERY.parse(body)


def parse_login_request(body: object) -> str:
    """`{"national_id": "…"}` or `{"rpps": "<11 digits>"}`: the national identifier, upper-cased."""
    return PSC_LOGIN_REQUEST.parse(body)


def parse_list_query(params: Mapping[str, str] | None, *, today: date) -> ListQuery:
    values = LIST_QUERY.parse(params if params is not None else {})
    limit = values["limit"]
    return ListQuery(
        day=values["date"] or today,
        status=values["status"],
        limit=limit if limit is not None else LIST_LIMIT_DEFAULT,
        cursor=values["cursor"],
    )


def parse_audit_query(params: Mapping[str, str] | None, *, now: datetime) -> AuditQuery:
    """`from` later than `now` is refused: such a window can only be a client's mistake."""
    _require_aware(now)
    return AUDIT_QUERY.parse(params if params is not None else {}, Context(now=now))


def parse_stats_query(params: Mapping[str, str] | None) -> StatsQuery:
    return STATS_QUERY.parse(params if params is not None else {})


def validate_finess(value: object, field: str = "finess") -> str:
    """A FINESS number (9 characters, département prefix, Luhn key), upper-cased."""
    try:
        return _finess(value)
    except Invalid as invalid:
        raise ValidationFailed([FieldError(field, invalid.message)]) from None


def finess_with_check_digit(prefix8: str) -> str:
    """Complete 8 characters into a valid FINESS number (for tests and seeding)."""
    prefix = prefix8.upper()
    if len(prefix) != 8:
        raise ValueError("a FINESS prefix has 8 characters")
    return prefix + finess_rules.check_digit(prefix)


def parse_uuid(value: object, field: str) -> str:
    """An Idempotency-Key header or a record id: a hyphenated UUID, returned lower-case."""
    if not isinstance(value, str) or not UUID.matches(value):
        raise ValidationFailed([FieldError(field, "must be a UUID (8-4-4-4-12 hexadecimal digits)")])
    return str(uuid.UUID(value))


# --- responses ---------------------------------------------------------------------------------------

_TEXT = out({"type": "string"})
_DATE_OUT = out({"type": "string", "format": "date"})


def _fields(names: str, kind_: Kind[Any] = _TEXT) -> list[Field]:
    return [Field(name, kind_) for name in names.split()]


ADDRESS: Obj[Any] = Obj(_fields("line postal_code city"), name="Address")
PATIENT: Obj[Any] = Obj(
    [
        Field("nir", out({"type": "string", "pattern": NORMALISED_NIR.anchored}), description="Normalised."),
        *_fields("last_name first_name"),
        Field("birth_date", _DATE_OUT),
        Field("sex", SEX),
        Field("email", _TEXT, nullable=True),
        Field("phone", _TEXT, nullable=True),
        Field("address", ADDRESS, nullable=True),
        Field("birth_last_name", _TEXT, required=False, nullable=True),
        Field("birth_first_names", _TEXT, required=False, nullable=True),
        Field("birth_place", _TEXT, required=False, nullable=True),
        Field("identity_document", IDENTITY_DOCUMENT, required=False, nullable=True),
        Field(
            "identity_status",
            choice(IdentityStatus),
            required=False,
            description="Derived by the server from what was checked (README \"The patient's "
            'identity"): provisional, recovered (INSi), validated (document), qualified (both).',
        ),
    ],
    name="Patient",
)
TEST: Obj[Any] = Obj(
    [
        Field("kind", KIND),
        Field("device_id", _TEXT),
        Field(
            "device_name",
            _TEXT,
            nullable=True,
            description="The device's manufacturer and name on the EU common list.",
        ),
        Field("sampled_at", out({"type": "string", "format": "date-time"})),
        Field("result", RESULT, nullable=True),
    ],
    name="Test",
)
_SUMMARY_FIELDS = [
    Field("id", ID),
    Field("finess", _TEXT),
    Field("status", STATUS),
    Field("test", TEST),
    Field(
        "day",
        _DATE_OUT,
        description="The sampling's day in the pharmacy's time zone: the day it is listed and counted under.",
    ),
    Field("created_at", TIMESTAMP),
    Field("updated_at", TIMESTAMP),
    Field("created_by", _TEXT),
]
SUMMARY: Obj[Any] = Obj(
    _SUMMARY_FIELDS, name="Summary", description="A list item: no NIR, e-mail, phone or address."
)
RECORD: Obj[Any] = Obj([*_SUMMARY_FIELDS, Field("patient", PATIENT, nullable=True)], name="Record")
RECORD_PAGE: Obj[Any] = Obj(
    [Field("items", array(SUMMARY)), Field("next_cursor", _TEXT, nullable=True)], name="RecordPage"
)
REJECTION: Obj[Any] = Obj(
    [
        Field("ack_code", out({"type": "string", "enum": ["AE", "AR"]})),
        Field("code", _TEXT, description="HL7 table 0357 error code (empty when SI-DEP gave none)."),
        Field("category", _TEXT, description="That code's category, from our own table."),
    ],
    name="Rejection",
)
DELIVERY_EVENT: Obj[Any] = Obj([Field("at", TIMESTAMP), *_fields("event detail")], name="DeliveryEvent")
DELIVERY: Obj[Any] = Obj(
    [
        Field("id", ID),
        Field("status", STATUS),
        Field(
            "state",
            choice(Journey),
            description="The step of the record's way to SI-DEP; each refines one `status`: pending "
            "(pending); queued (ready); sending, retrying, dead_letter (sent); acknowledged; rejected; "
            "withdrawn, cancelled (cancelled). A withdrawal on its way is queued, sending, retrying or "
            "dead_letter under `cancelled`.",
        ),
        Field("pending_message", choice(MessageKind), nullable=True),
        Field("attempts", COUNT),
        Field("last_error", _TEXT, nullable=True),
        Field(
            "error_category",
            choice(ErrorCategory),
            nullable=True,
            description="Why the last attempt got no acknowledgement, while retrying or a dead letter.",
        ),
        Field(
            "rejection",
            REJECTION,
            nullable=True,
            description="Why SI-DEP rejected it (codes only, never SI-DEP's text): correct the record "
            "and it goes out again.",
        ),
        Field("acknowledged_at", TIMESTAMP, nullable=True),
        Field("acknowledged_version", COUNT),
        Field("next_attempt_at", TIMESTAMP, nullable=True),
        # when a message first left for SI-DEP: from then on the test is withdrawn, never cancelled
        Field("first_sent_at", TIMESTAMP, nullable=True),
        Field("history", array(DELIVERY_EVENT)),
    ],
    name="Delivery",
)
AUDIT_EVENT: Obj[Any] = Obj(
    [
        Field("time", TIMESTAMP),
        *_fields("actor role"),
        Field("finess", _TEXT, nullable=True),
        Field("action", _TEXT),
        Field("record_ids", array(_TEXT)),
        *_fields("outcome request_id"),
    ],
    name="AuditEvent",
    description="One event of the pharmacy's audit journal (identifiers only).",
    closed=False,
)
AUDIT_PUBLIC_KEY: Obj[Any] = Obj(
    [
        Field("key_id", _TEXT),
        Field("algorithm", out({"type": "string", "enum": ["ECDSA_SHA_256"]})),
        Field(
            "public_key_pem",
            _TEXT,
            description="SubjectPublicKeyInfo (ECC_NIST_P256), PEM: verify_audit --public-key.",
        ),
        Field(
            "fingerprint",
            _TEXT,
            description="SHA-256 (hex) of the DER public key: compare with the stack output.",
        ),
    ],
    name="AuditPublicKey",
    description="The key that signs the audit journal's checkpoints: anyone holding it verifies them "
    "offline.",
)
AUDIT_PAGE: Obj[Any] = Obj(
    [Field("items", array(AUDIT_EVENT)), Field("next_cursor", _TEXT, nullable=True)], name="AuditPage"
)
PHARMACY: Obj[Any] = Obj([*_fields("finess name"), Field("time_zone", TIME_ZONE)], name="Pharmacy")
MEMBER: OneOf[Any] = OneOf(
    [
        Obj([*_fields("username email"), _ROLE, Field("finess", _TEXT)]),
        Obj([*_fields("username national_id"), _ROLE, Field("finess", _TEXT)]),
    ],
    name="Member",
)
HEALTH: Obj[Any] = Obj([Field("status", out({"type": "string", "const": "ok"}))], name="Health")
FIELD_ERROR: Obj[Any] = Obj(_fields("field message"), name="FieldError")
PROBLEM: Obj[Any] = Obj(
    [
        *_fields("type title"),
        Field("status", out({"type": "integer", "minimum": 400, "maximum": 599})),
        Field("detail", _TEXT),
        Field("errors", array(FIELD_ERROR), required=False),
        Field(
            "withdrawal",
            _TEXT,
            required=False,
            description="On a 409 cancelling an already sent test: the route withdrawing it (POST).",
        ),
        Field(
            "error",
            _TEXT,
            required=False,
            description="On the Pro Santé Connect login routes: the CIBA / OAuth error code "
            "(authorization_pending, slow_down, expired_token, access_denied, "
            "invalid_grant).",
        ),
    ],
    name="Problem",
    description="RFC 9457 problem details; never echoes a submitted personal value.",
    closed=False,
)
PATIENT_RECORD: Obj[Any] = RECORD.extended(
    [
        Field("delivery", DELIVERY),
        Field(
            "retention",
            Obj(
                [
                    Field("sent_to_sidep", out({"type": "boolean"})),
                    Field("personal_data_erased_on", _DATE_OUT),
                ]
            ),
        ),
    ],
    name="PatientRecord",
    description="A record with everything held about it: patient, delivery, retention.",
)
PATIENT_EXPORT: Obj[Any] = Obj(
    [
        Field("finess", _TEXT),
        Field("generated_at", TIMESTAMP),
        Field("records", array(PATIENT_RECORD)),
        Field("retention_policy", Obj(_fields("after_acknowledgement_days hard_cap_days", COUNT))),
    ],
    name="PatientExport",
)
PATIENT_ERASURE: Obj[Any] = Obj(
    [
        Field("erased", array(ID)),
        Field(
            "already_sent",
            array(Obj([Field("id", ID), Field("status", _TEXT), Field("erased_here_on", _DATE_OUT)])),
        ),
        Field("detail", _TEXT),
    ],
    name="PatientErasure",
)
_DAY_FIELDS = [
    *_fields("tests positive negative invalid pending", COUNT),
    Field(
        "positivity",
        out({"type": "number", "minimum": 0, "maximum": 1}),
        nullable=True,
        description="positive / (positive + negative); null when there is neither.",
    ),
]
DAY_STATS: Obj[Any] = Obj([Field("date", _DATE_OUT), *_DAY_FIELDS], name="DayStats")
REJECTION_COUNT: Obj[Any] = Obj([*_fields("code category"), Field("records", COUNT)], name="RejectionCount")
STATS: Obj[Any] = Obj(
    [
        Field("finess", _TEXT),
        Field("from", _DATE_OUT),
        Field("to", _DATE_OUT),
        Field("days", array(DAY_STATS)),
        Field("totals", Obj(_DAY_FIELDS)),
        Field("delivery_states", Obj(_fields(" ".join(state.value for state in DeliveryState), COUNT))),
        Field(
            "rejections",
            array(REJECTION_COUNT),
            description="Records SI-DEP rejected, by error code: list them with status=rejected, "
            "correct them, and they go out again.",
        ),
    ],
    name="Stats",
)
PHARMACY_SETTINGS_STATE: Obj[Any] = Obj(
    [Field("finess", _TEXT), Field("psc_required", BOOLEAN)], name="PharmacySettingsState"
)
PSC_LOGIN: Obj[Any] = Obj(
    [
        Field("login_id", _TEXT, description="Opaque handle for polling; keep it secret."),
        Field("binding_message", _TEXT, description="Show it: the e-CPS app shows the same code to approve."),
        Field("expires_in", POSITIVE),
        Field("interval", POSITIVE, description="Poll at most this often (seconds)."),
    ],
    name="PscLogin",
)
PSC_TOKEN: Obj[Any] = Obj(
    [
        Field("access_token", _TEXT, description="Send as `Authorization: Bearer …`."),
        Field("token_type", out({"type": "string", "const": "Bearer"})),
        Field("expires_in", POSITIVE),
    ],
    name="PscToken",
)
JWKS: Obj[Any] = Obj(
    [Field("keys", array({"type": "object"}))],
    name="Jwks",
    description="The public keys of our session issuer (RS256; private keys stay in KMS).",
)

# components.schemas, in the document's order
COMPONENTS: tuple[Shape[Any], ...] = (
    ADDRESS_INPUT,
    PATIENT_INPUT,
    TEST_INPUT,
    SUBMISSION,
    RESULT_UPDATE,
    ADDRESS,
    PATIENT,
    TEST,
    RECORD,
    SUMMARY,
    RECORD_PAGE,
    DELIVERY_EVENT,
    REJECTION,
    DELIVERY,
    AUDIT_EVENT,
    AUDIT_PUBLIC_KEY,
    AUDIT_PAGE,
    PHARMACY_INPUT,
    PHARMACY,
    INVITATION,
    MEMBER,
    HEALTH,
    FIELD_ERROR,
    PROBLEM,
    PATIENT_QUERY,
    PATIENT_RECORD,
    PATIENT_EXPORT,
    PATIENT_ERASURE,
    DAY_STATS,
    REJECTION_COUNT,
    STATS,
    PHARMACY_SETTINGS,
    PHARMACY_SETTINGS_STATE,
    PSC_LOGIN_REQUEST,
    PSC_LOGIN,
    PSC_TOKEN,
    JWKS,
)


def component_schemas() -> dict[str, Schema]:
    return {component.name: component.json_schema() for component in COMPONENTS}
