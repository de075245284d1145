"""The fields of the API's payloads: the patterns (each once: parsers full-match them, schemas carry
them anchored), the field rules (a value -> a parsed value, or `Invalid` naming the `Rule` broken:
its stable code and a message that quotes nothing) and the kinds that pair a rule with its schema
fragment (chalicelib/schema.py). The request, query and response declarations (requests.py,
queries.py, responses.py) are built from these.

Rules a schema cannot say (a NIR's key and its agreement with sex and birth date, date ranges,
NFC-normalised lengths, a FINESS's Luhn key, INSEE's list, the EU device list on the sampling day)
are the parsers', answered with 400.

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
- `sampled_at` keeps the offset it was given, and is at most the offline window old
  (`OFFLINE_WINDOW_DAYS`, chalicelib/config.py). `captured_at` (optional: when the record was
  entered on the device, offline perhaps) keeps its offset too, and lies between `sampled_at` and
  now, within the clock skew.
- INS traits (`birth_last_name`, `birth_first_names`, `birth_place`, `identity_document`) are
  optional; a birth place must be on the shipped INSEE list. The identity's status is never read
  from the body (an `identity_status` field is refused as unknown): the service derives it.
- `device_id` must be on the shipped EU common list (chalicelib/domain/devices.py), and still on it
  on the sampling day (the day of `sampled_at` in its own offset).
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta

from chalicelib.domain import finess as finess_rules
from chalicelib.domain import nir as nir_rules
from chalicelib.domain import psc
from chalicelib.domain.devices import device_list
from chalicelib.domain.errors import FieldError, Rule, ValidationFailed
from chalicelib.domain.identity import IdentityDocument
from chalicelib.domain.insee import is_birth_place
from chalicelib.domain.model import RecordStatus, Role, ScreeningKind, ScreeningResult, Sex
from chalicelib.domain.pharmacy_day import FRENCH_ZONES, PARIS
from chalicelib.domain.serialization import iso_utc
from chalicelib.schema import (
    Field,
    Invalid,
    Kind,
    Pattern,
    Schema,
    choice,
    fail,
    kind,
    one_of_strings,
    out,
    string,
)

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
ALERTS_LIMIT_DEFAULT, ALERTS_LIMIT_MAX = 50, 100
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# The earliest time zone is UTC+14: "today" there is the latest plausible birth date.
_EARLIEST_ZONE_AHEAD = timedelta(hours=14)

# --- the patterns, each once: the parsers full-match them, the schemas carry them ------------------

UUID = Pattern("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CURSOR = Pattern("[A-Za-z0-9_-]+={0,2}")
# 01–95 but not 20 (Corsica is 2A/2B), or 97/98 overseas; then 7 digits.
FINESS = Pattern(finess_rules.FINESS_REGEX)
INSEE_CODE = Pattern("[0-9][0-9ABab][0-9]{3}")
# the département is 2 digits, or 2A/2B in Corsica
NORMALISED_NIR = Pattern("[0-9]{5}([0-9]{2}|2[AB])[0-9]{8}")
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


# --- the rules the kinds check, each with its stable code (docs/errors.md) ------------------------

TOO_LONG = Rule("too_long", "must be at most {limit} characters")
CONTROL_CHARACTERS = Rule("control_characters", "must not contain control characters")
EMPTY = Rule("empty", "must not be empty")
EMPTY_OPTIONAL = Rule("empty_optional", "must not be empty (omit it or send null)")
NAME_CHARACTERS = Rule(
    "name_characters", "may contain only letters, spaces, hyphens, apostrophes and periods"
)
NO_LETTER = Rule("no_letter", "must contain a letter")
NOT_A_DATE = Rule("not_a_date", "must be a date in the form YYYY-MM-DD")
NOT_A_CALENDAR_DATE = Rule("not_a_calendar_date", "is not a valid calendar date")
IN_THE_FUTURE = Rule("in_the_future", "must not be in the future")
BEFORE_1900 = Rule("before_1900", "must not be before 1900-01-01")
NOT_A_DATETIME = Rule("not_a_datetime", "must be an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss±hh:mm)")
NO_OFFSET = Rule("no_offset", "must include a time zone offset (Z or ±hh:mm)")
NOT_AN_INSTANT = Rule("not_an_instant", "is not a valid date-time")
TOO_OLD = Rule("too_old", "must be within the last {days} days")
DEVICE_ID_FORMAT = Rule("device_id_format", "must be an EU common list device id: 1 to 10 digits")
DEVICE_NOT_LISTED = Rule("device_not_listed", "is not on the EU common list of test devices")
INSEE_CODE_FORMAT = Rule(
    "insee_code_format",
    "must be an INSEE code: 5 characters (a commune, 2A/2B in Corsica, or 99 and a country)",
)
UNKNOWN_BIRTH_PLACE = Rule("unknown_birth_place", "is not a commune or country of INSEE's code list")
NOT_AN_EMAIL = Rule("not_an_email", "is not a valid e-mail address")
NOT_A_PHONE_NUMBER = Rule("not_a_phone_number", "is not a phone number")
PHONE_EXTENSION = Rule("phone_extension", "must not have an extension")
INVALID_PHONE_NUMBER = Rule("invalid_phone_number", "is not a valid phone number")
POSTAL_CODE_FORMAT = Rule("postal_code_format", "must be 5 digits")
POSTAL_CODE_DEPARTEMENT = Rule(
    "postal_code_departement", "must start with a French département number (01–95, 97 or 98)"
)
FINESS_LENGTH = Rule("finess_length", "must have 9 characters")
FINESS_FORMAT = Rule(
    "finess_format", "must be a département code (01–95, 2A, 2B, 97 or 98) followed by 7 digits"
)
FINESS_CHECKSUM = Rule("finess_checksum", "has a wrong check digit")
LIMIT_RANGE = Rule("limit_range", "must be an integer from 1 to {maximum}")
CURSOR_FORMAT = Rule("cursor_format", "is not a valid cursor")
NOT_A_BOOLEAN = Rule("not_a_boolean", "must be true or false")
NATIONAL_ID_FORMAT = Rule(
    "national_id_format",
    "must be 10 to 20 letters or digits (RPPS professionals: 8 followed by the RPPS number)",
)
RPPS_FORMAT = Rule("rpps_format", "must be 11 digits")
NOT_A_UUID = Rule("not_a_uuid", "must be a UUID (8-4-4-4-12 hexadecimal digits)")


class Context:
    """What the context-dependent rules compare with: the time of the request and the limits."""

    __slots__ = ("max_age", "now", "skew", "zone")

    def __init__(
        self,
        now: datetime,
        max_age: timedelta = timedelta(0),
        skew: timedelta = timedelta(minutes=5),
        zone: str = PARIS,  # the pharmacy's time zone, in which a query's dates are days
    ) -> None:
        self.now = now
        self.max_age = max_age
        self.skew = skew
        self.zone = zone


# --- the field rules ---------------------------------------------------------------------------


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def _text(max_length: int) -> Kind[str]:
    """NFC-normalised, trimmed, 1..max_length characters, no control characters."""

    def parse(value: object) -> str:
        text = string(value)
        if len(text) > 4 * max_length:  # cheap bound before any per-character work
            fail(TOO_LONG, limit=max_length)
        if any(_is_control(char) for char in text):
            fail(CONTROL_CHARACTERS)
        text = unicodedata.normalize("NFC", text).strip()
        if not text:
            fail(EMPTY)
        if len(text) > max_length:
            fail(TOO_LONG, limit=max_length)
        return text

    return kind(parse, {"type": "string"})


def _is_name_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM" or char in _NAME_PUNCTUATION


def _person_name(value: object) -> str:
    name = _TEXT_NAME.parse(value, None)
    if not all(_is_name_char(char) for char in name):
        fail(NAME_CHARACTERS)
    if not any(unicodedata.category(char)[0] == "L" for char in name):
        fail(NO_LETTER)
    return name


def _nir(value: object) -> str:
    try:
        return nir_rules.normalise(string(value))
    except nir_rules.InvalidNir as invalid:
        fail(invalid.rule)


def _iso_date(value: object) -> date:
    text = string(value)
    if not _DATE.matches(text):
        fail(NOT_A_DATE)
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(NOT_A_CALENDAR_DATE)


def _birth_date(value: object, context: Context) -> date:
    born = _iso_date(value)
    if born > (context.now.astimezone(UTC) + _EARLIEST_ZONE_AHEAD).date():
        fail(IN_THE_FUTURE)
    if born < EARLIEST_BIRTH_DATE:
        fail(BEFORE_1900)
    return born


def _rfc3339(value: object) -> datetime:
    """An RFC 3339 date-time; a missing offset is an error, never a guess."""
    match = _DATETIME.fullmatch(string(value))
    if match is None:
        fail(NOT_A_DATETIME)
    offset = match["offset"]
    if offset is None:
        fail(NO_OFFSET)
    seconds, _, fraction = match["time"].partition(".")
    fraction = f".{fraction[:6]}" if fraction else ""  # datetime keeps microseconds
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{seconds}{fraction}{offset}")
        parsed.astimezone(UTC)  # it must name an instant: 0001-01-01T00:00:00+01:00 has none
    except (ValueError, OverflowError):
        fail(NOT_AN_INSTANT)
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
        fail(IN_THE_FUTURE)
    if sampled < context.now - context.max_age:
        fail(TOO_OLD, days=context.max_age.days)
    return sampled


def _captured_at(value: object, context: Context) -> datetime:
    """When the record was entered on the device (offline, maybe): within the same window as
    `sampled_at`; its order against `sampled_at` is the test's rule (requests.py)."""
    captured = _rfc3339(value)
    if captured > context.now + context.skew:
        fail(IN_THE_FUTURE)
    if captured < context.now - context.max_age - context.skew:
        fail(TOO_OLD, days=context.max_age.days)
    return captured


def _device_id(value: object) -> str:
    text = string(value)
    if not _DEVICE_ID.matches(text):
        fail(DEVICE_ID_FORMAT)
    if device_list().get(text) is None:
        fail(DEVICE_NOT_LISTED)
    return text


def _birth_place(value: object) -> str:
    text = string(value).strip().upper()
    if not INSEE_CODE.matches(text):
        fail(INSEE_CODE_FORMAT)
    if not is_birth_place(text):
        fail(UNKNOWN_BIRTH_PLACE)
    return text


def _trimmed(value: object, max_length: int) -> str:
    """An optional contact field's text: trimmed, not empty, bounded before any library sees it."""
    text = string(value).strip()
    if not text:
        fail(EMPTY_OPTIONAL)
    if len(text) > max_length:
        fail(TOO_LONG, limit=max_length)
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
        fail(NOT_AN_EMAIL)


def _phone(value: object) -> str:
    text = _trimmed(value, PHONE_INPUT_MAX)
    import phonenumbers  # when first needed, as email_validator: its import costs tens of ms

    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        fail(NOT_A_PHONE_NUMBER)
    if number.extension:
        fail(PHONE_EXTENSION)
    if not phonenumbers.is_valid_number(number):
        fail(INVALID_PHONE_NUMBER)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _postal_code(value: object) -> str:
    text = string(value).strip()
    if not _POSTAL_CODE.matches(text):
        fail(POSTAL_CODE_FORMAT)
    if not _POSTAL_DEPARTEMENT.matches(text[:2]):
        fail(POSTAL_CODE_DEPARTEMENT)
    return text


def _finess(value: object) -> str:
    number = string(value).upper()
    if len(number) != 9:
        fail(FINESS_LENGTH)
    if not FINESS.matches(number):
        fail(FINESS_FORMAT)
    if not finess_rules.has_valid_key(number):
        fail(FINESS_CHECKSUM)
    return number


def _limit(maximum: int) -> Kind[int]:
    def parse(value: object) -> int:
        text = string(value)
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            fail(LIMIT_RANGE, maximum=maximum)
        limit = int(text)
        if not 1 <= limit <= maximum:
            fail(LIMIT_RANGE, maximum=maximum)
        return limit

    return kind(parse, {"type": "integer", "minimum": 1, "maximum": maximum})


def _cursor(value: object) -> str:
    text = string(value)
    if len(text) > CURSOR_MAX:
        fail(TOO_LONG, limit=CURSOR_MAX)
    if not CURSOR.matches(text):
        fail(CURSOR_FORMAT)
    return text


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        fail(NOT_A_BOOLEAN)
    return value


def _national_id(value: object) -> str:
    text = string(value).strip().upper()
    if not psc.is_national_id(text):
        fail(NATIONAL_ID_FORMAT)
    return text


def _rpps(value: object) -> str:
    text = string(value).strip()
    if not psc.is_rpps(text):
        fail(RPPS_FORMAT)
    return psc.national_id_of_rpps(text)


# --- the kinds -----------------------------------------------------------------------------------

STRING = kind(string, {"type": "string"})
TIMESTAMP = out(
    {"type": "string", "format": "date-time", "description": "RFC 3339, UTC (Z)."},
    lambda moment: iso_utc(moment) if isinstance(moment, datetime) else moment,
)
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


# the kinds of single request fields, each with its bounds
ADDRESS_LINE = _text(ADDRESS_LINE_MAX)
CITY = _text(CITY_MAX)
PHARMACY_NAME = _text(PHARMACY_NAME_MAX)
POSTAL_CODE = kind(_postal_code, {"type": "string"})
BIRTH_DATE = Kind(_birth_date, DAY.schema)
BIRTH_PLACE = kind(_birth_place, {"type": "string", "pattern": INSEE_CODE.anchored})
SAMPLED_AT = Kind(_sampled_at, {"type": "string", "format": "date-time"})
CAPTURED_AT = Kind(_captured_at, {"type": "string", "format": "date-time"})
LIST_LIMIT = _limit(LIST_LIMIT_MAX)
AUDIT_LIMIT = _limit(AUDIT_LIMIT_MAX)
ALERTS_LIMIT = _limit(ALERTS_LIMIT_MAX)

# fields several payloads share (an invitation's and a login's identifiers, a member's role)
EMAIL_FIELD = Field("email", EMAIL)
NATIONAL_ID_FIELD = Field("national_id", NATIONAL_ID_KIND)
RPPS_FIELD = Field("rpps", RPPS_KIND)
ROLE_FIELD = Field("role", INVITABLE_ROLE)


# --- the rules other layers call on single values ------------------------------------------------------


def require_aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")  # a programming error, not bad input


def validate_finess(value: object, field: str = "finess") -> str:
    """A FINESS number (9 characters, département prefix, Luhn key), upper-cased."""
    try:
        return _finess(value)
    except Invalid as invalid:
        raise ValidationFailed([FieldError(field, invalid.message, invalid.code)]) from None


def finess_with_check_digit(prefix8: str) -> str:
    """Complete 8 characters into a valid FINESS number (for tests and seeding)."""
    prefix = prefix8.upper()
    if len(prefix) != 8:
        raise ValueError("a FINESS prefix has 8 characters")
    return prefix + finess_rules.check_digit(prefix)


def parse_uuid(value: object, field: str) -> str:
    """An Idempotency-Key header or a record id: a hyphenated UUID, returned lower-case."""
    if not isinstance(value, str) or not UUID.matches(value):
        raise ValidationFailed([NOT_A_UUID.at(field)])
    return str(uuid.UUID(value))
