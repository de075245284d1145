"""One declaration per payload: the field kinds and objects that parse a request (or describe a
response) and emit its JSON Schema (OpenAPI 3.1) fragment from the same declaration.

Parsing collects every error of its input before raising one `ValidationFailed`, each error naming a
dotted field path (`patient.address.postal_code`) and the stable code of the rule it breaks (a
`Rule`, chalicelib/domain/errors.py: `fail(RULE)` in a parser, `read.error(name, RULE)` in a
build). Messages are built from constants only: they never quote a submitted value, and
third-party exception messages (which may) are never passed on.

- A `Kind` is a scalar field kind: its parser (value, context) -> parsed value, raising `Invalid`,
  and the schema fragment it declares. Custom rules (a NIR's key, a FINESS's Luhn key, a device on
  the EU list…) are the parser's; what JSON Schema can say is in the fragment, built from the same
  constants (a `Pattern` is full-matched by the parser and anchored in the schema).
- An `Obj` is an object: its `Field`s (required or not, nullable or not), unknown fields refused
  (`additionalProperties: false`), and a `build` that checks what concerns several fields and makes
  the domain object. Named objects are components: a field of that kind is a `$ref`.
- An optional field may be absent or null on input (both read as None); `nullable` declares null in
  the schema (and, for a required field, accepts it).
- A response is rendered from the same declaration (`Shape.render`): each field's value is read from
  the domain value (its attribute of that name, a mapping's key, or the field's `source`) and dumped
  by its kind (an enum as its value, a date as ISO 8601, or the kind's own `dump`), in the declared
  order. So the document and the body cannot disagree.

Standard library only, and no dataclass (each costs about a millisecond of `import app`); patterns
compile when first used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from enum import Enum, StrEnum
from typing import Any, Generic, NoReturn, TypeVar

from chalicelib.domain.errors import FieldError, Rule, ValidationFailed

Schema = dict[str, Any]
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_UNKNOWN_REPORTED = 10
NULL: Schema = {"type": "null"}


# The rules every payload shares (a field's own rules are its kind's, chalicelib/payloads/fields.py).
REQUIRED = Rule("required", "is required")
NOT_A_STRING = Rule("not_a_string", "must be a string")
NOT_AN_OBJECT = Rule("not_an_object", "must be a JSON object")
UNKNOWN_FIELD = Rule("unknown_field", "is not an allowed {noun}")
TOO_MANY_UNKNOWN_FIELDS = Rule("too_many_unknown_fields", "has more {noun}s that are not allowed")
NOT_ONE_OF = Rule("not_one_of", "must be one of: {values}")


class Invalid(Exception):
    """Raised by a field parser: the rule broken and its message, which never quotes the value."""

    def __init__(self, rule: Rule, **params: object) -> None:
        self.code = rule.code
        self.message = rule.message.format(**params)
        super().__init__(self.message)


def fail(rule: Rule, **params: object) -> NoReturn:
    """Break `rule` (its message's parameters: declared constants, never the value)."""
    raise Invalid(rule, **params)


class Errors:
    """Collects FieldErrors; parsers keep going after an error so that all are reported at once."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, rule: Rule, **params: object) -> None:
        self.items.append(rule.at(field, **params))

    def check(self, field: str, parse: Callable[[object], T], value: object) -> T | None:
        """`parse(value)`, or None with an error recorded for `field`."""
        try:
            return parse(value)
        except Invalid as invalid:
            self.items.append(FieldError(field, invalid.message, invalid.code))
            return None

    def failure(self) -> ValidationFailed:
        return ValidationFailed(list(self.items))


class Pattern:
    """A regular expression declared once: parsers full-match it, schemas carry it anchored. Write
    it without a top-level alternation (group it), so that anchoring keeps its meaning."""

    __slots__ = ("_compiled", "regex")

    def __init__(self, regex: str) -> None:
        self.regex = regex
        self._compiled: re.Pattern[str] | None = None  # compiled when first used, not at import

    def matches(self, text: str) -> bool:
        return self.fullmatch(text) is not None

    def fullmatch(self, text: str) -> re.Match[str] | None:
        if self._compiled is None:
            self._compiled = re.compile(self.regex)
        return self._compiled.fullmatch(text)

    @property
    def anchored(self) -> str:
        return f"^{self.regex}$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, NULL]}


def described(schema: Schema, description: str) -> Schema:
    return {**schema, "description": description} if description else schema


def plain(value: Any) -> Any:
    """A domain value as JSON: an enum as its value, a date or a time as ISO 8601, the rest as is."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return value


class Kind(Generic[T]):
    """A scalar field kind: its parser, the schema fragment it declares (or a function making it,
    called when the document is built: for fragments drawn from data that import need not load), and
    how a response dumps a value of it (`plain` unless said)."""

    __slots__ = ("dump", "parse", "schema")

    def __init__(
        self,
        parse: Callable[[object, Any], T],
        schema: Schema | Callable[[], Schema],
        dump: Callable[[Any], Any] = plain,
    ) -> None:
        self.parse = parse
        self.schema = schema
        self.dump = dump

    def json_schema(self) -> Schema:
        return dict(self.schema() if callable(self.schema) else self.schema)


def _output_only(value: object, context: Any) -> NoReturn:
    raise TypeError("a response kind parses nothing")  # a declaration mistake, not bad input


def kind(parse: Callable[[object], T], schema: Schema | Callable[[], Schema]) -> Kind[T]:
    """A kind whose parser needs no context."""
    return Kind(lambda value, _context: parse(value), schema)


def out(schema: Schema, dump: Callable[[Any], Any] = plain) -> Kind[Any]:
    """A kind of response bodies only (described and dumped, never parsed)."""
    return Kind(_output_only, schema, dump)


def string(value: object) -> str:
    if not isinstance(value, str):
        fail(NOT_A_STRING)
    return value


def choice(enum: type[E], allowed: Sequence[E] | None = None) -> Kind[E]:
    """The string values of `enum` (or of `allowed`, a subset of it): parsed to members, declared as
    an `enum` of the same values."""
    members = tuple(allowed) if allowed is not None else tuple(enum)
    values = [member.value for member in members]
    listed = ", ".join(values)

    def parse(value: object) -> E:
        text = string(value)
        for member in members:
            if text == member.value:
                return member
        fail(NOT_ONE_OF, values=listed)

    return kind(parse, {"type": "string", "enum": values})


def one_of_strings(values: Sequence[str]) -> Kind[str]:
    """One of a fixed list of strings (declared as that `enum`)."""
    allowed = list(values)
    listed = ", ".join(allowed)

    def parse(value: object) -> str:
        text = string(value)
        if text not in allowed:
            fail(NOT_ONE_OF, values=listed)
        return text

    return kind(parse, {"type": "string", "enum": allowed})


class Field:
    """A named field of an object: its kind, whether it is required, whether null is declared."""

    __slots__ = ("description", "kind", "name", "nullable", "required", "source")

    def __init__(
        self,
        name: str,
        kind: Kind[Any] | Shape[Any],
        required: bool = True,
        nullable: bool = False,
        description: str | Callable[[], str] = "",
        source: Callable[[Any], Any] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.required = required
        self.nullable = nullable
        self.description = description
        self.source = source  # how a response reads it from the domain value (else by its name)

    def json_schema(self) -> Schema:
        base = self.kind.reference() if isinstance(self.kind, Shape) else self.kind.json_schema()
        return described(nullable(base) if self.nullable else base, self.text())

    def text(self) -> str:
        return self.description() if callable(self.description) else self.description

    def read_from(self, value: Any) -> Any:
        """This field's value in `value`: a mapping's (a body already rendered, which renders to
        itself) by name, a domain value's by its source, or else by its name."""
        if isinstance(value, Mapping):
            return value.get(self.name)
        return self.source(value) if self.source is not None else getattr(value, self.name)

    def dumped(self, raw: Any) -> Any:
        """`raw` (this field's domain value) as JSON; None stays null."""
        if raw is None:
            return None
        return self.kind.render(raw) if isinstance(self.kind, Shape) else self.kind.dump(raw)


class Read:
    """What an object's fields parsed to (None: absent, null or invalid), for its `build`."""

    __slots__ = ("context", "errors", "path", "raw", "values")

    def __init__(
        self, values: dict[str, Any], raw: Mapping[object, object], path: str, errors: Errors, context: Any
    ) -> None:
        self.values = values
        self.raw = raw
        self.path = path
        self.errors = errors
        self.context = context

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def error(self, name: str, rule: Rule, **params: object) -> None:
        self.errors.add(_join(self.path, name), rule, **params)

    def has(self, *names: str) -> bool:
        """Every one of `names` parsed to a value."""
        return all(self.values[name] is not None for name in names)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown_key(key: object) -> str:
    # A key is submitted data too: only identifier-like names are echoed.
    return key if isinstance(key, str) and _SAFE_KEY.fullmatch(key) else "?"


class Shape(Generic[T]):
    """A declared body: it reads (collecting errors) and describes itself; a named one is a component."""

    name: str
    description: str
    media_type = "application/json"  # what a request of this shape is sent as (a CSV sheet: text/csv)

    def read(self, raw: object, path: str, errors: Errors, context: Any = None) -> T | None:
        raise NotImplementedError

    def json_schema(self) -> Schema:
        raise NotImplementedError

    def parse(self, raw: object, context: Any = None) -> T:
        """The declared value, or ValidationFailed naming every field in error."""
        errors = Errors()
        parsed = self.read(raw, "", errors, context)
        if errors.items or parsed is None:
            raise errors.failure()
        return parsed

    def reference(self) -> Schema:
        return ref(self.name) if self.name else self.json_schema()

    def render(self, value: Any) -> Any:
        """The response body of the domain value `value`, as this shape declares it."""
        raise NotImplementedError


class Obj(Shape[T]):
    """A JSON object (or a query string: `noun="query parameter"`) of declared fields."""

    def __init__(
        self,
        fields: Sequence[Field],
        build: Callable[[Read], T | None] | None = None,
        *,
        name: str = "",
        description: str = "",
        closed: bool = True,
        noun: str = "field",
    ) -> None:
        self.fields = tuple(fields)
        self.build = build
        self.name = name
        self.description = description
        self.closed = closed
        self.noun = noun

    def extended(
        self,
        fields: Sequence[Field],
        *,
        name: str,
        description: str = "",
        build: Callable[[Read], Any] | None = None,
    ) -> Obj[Any]:
        """This object with more fields, as another declaration."""
        return Obj(
            [*self.fields, *fields],
            build,
            name=name,
            description=description or self.description,
            closed=self.closed,
            noun=self.noun,
        )

    # --- parsing ---

    def read(self, raw: object, path: str, errors: Errors, context: Any = None) -> T | None:
        if not isinstance(raw, Mapping):
            errors.add(path or "body", NOT_AN_OBJECT)
            return None
        values = {field.name: self._field(field, raw, path, errors, context) for field in self.fields}
        known = {field.name for field in self.fields}
        shown = sorted(_shown_key(key) for key in raw if key not in known)
        for key in shown[:_MAX_UNKNOWN_REPORTED]:
            errors.add(_join(path, key), UNKNOWN_FIELD, noun=self.noun)
        if len(shown) > _MAX_UNKNOWN_REPORTED:
            errors.add(path or "body", TOO_MANY_UNKNOWN_FIELDS, noun=self.noun)
        read = Read(values, raw, path, errors, context)
        return self.build(read) if self.build is not None else None

    @staticmethod
    def _field(field: Field, raw: Mapping[object, object], path: str, errors: Errors, context: Any) -> Any:
        where = _join(path, field.name)
        if field.name not in raw:
            if field.required:
                errors.add(where, REQUIRED)
            return None
        value = raw[field.name]
        if value is None and (field.nullable or not field.required):
            return None
        if isinstance(field.kind, Shape):
            return field.kind.read(value, where, errors, context)
        parse = field.kind.parse
        return errors.check(where, lambda v: parse(v, context), value)

    # --- rendering ---

    def render(self, value: Any) -> dict[str, Any]:
        """Every declared field, in the declared order; a mapping's optional key that is absent stays
        absent, and an open object rendered from a mapping keeps its keys and their order."""
        if isinstance(value, Mapping) and not self.closed:  # keep an open object's other keys, in order
            declared = {field.name: field for field in self.fields}
            return {
                key: declared[key].dumped(item) if key in declared else item for key, item in value.items()
            }
        body: dict[str, Any] = {}
        for field in self.fields:
            if isinstance(value, Mapping) and field.name not in value:
                if field.required:
                    raise KeyError(field.name)  # a rendering mistake, never the client's
                continue
            body[field.name] = field.dumped(field.read_from(value))
        return body

    def has_values(self, value: Any) -> bool:
        """Every required field of this object has a value in `value` (which variant it is)."""
        return all(field.read_from(value) is not None for field in self.fields if field.required)

    # --- description ---

    def json_schema(self) -> Schema:
        schema: Schema = {
            "type": "object",
            "properties": {field.name: field.json_schema() for field in self.fields},
            "required": [field.name for field in self.fields if field.required],
        }
        if self.closed:
            schema["additionalProperties"] = False
        return described(schema, self.description)

    def parameters(self, location: str = "query") -> list[Schema]:
        """The object's fields as OpenAPI parameters (a query string's)."""
        parameters: list[Schema] = []
        for field in self.fields:
            parameter: Schema = {"name": field.name, "in": location}
            if field.required:
                parameter["required"] = True
            assert isinstance(field.kind, Kind), "a parameter is a scalar"
            parameter["schema"] = field.kind.json_schema()
            parameters.append(described(parameter, field.text()))
        return parameters


class OneOf(Shape[T]):
    """Exactly one of several object shapes (`oneOf`), read by `parse` (which decides which)."""

    def __init__(
        self,
        variants: Sequence[Obj[Any]],
        parse: Callable[[object, str, Errors, Any], T | None] | None = None,
        *,
        name: str = "",
        description: str = "",
    ) -> None:
        self.variants = tuple(variants)
        self._parse = parse
        self.name = name
        self.description = description

    def read(self, raw: object, path: str, errors: Errors, context: Any = None) -> T | None:
        assert self._parse is not None, "a response shape parses nothing"
        return self._parse(raw, path, errors, context)

    def json_schema(self) -> Schema:
        return described({"oneOf": [variant.reference() for variant in self.variants]}, self.description)

    def render(self, value: Any) -> dict[str, Any]:
        """As the first variant whose required fields all have a value in `value`."""
        for variant in self.variants:
            if variant.has_values(value):
                return variant.render(value)
        raise ValueError("no variant of this shape fits the value")  # a rendering mistake


def array(item: Kind[Any] | Shape[Any] | Schema) -> Kind[Any]:
    """A response array of `item`s, each rendered as `item` declares it."""
    if isinstance(item, Shape):
        shape = item
        return out(
            {"type": "array", "items": item.reference()}, lambda values: [shape.render(v) for v in values]
        )
    if isinstance(item, Kind):
        dump = item.dump
        return out({"type": "array", "items": item.json_schema()}, lambda values: [dump(v) for v in values])
    return out({"type": "array", "items": item}, list)
