"""pytest plugin: no log record emitted during the suite may carry a test patient's personal value.

Load it from the root conftest (`pytest_plugins = ["tests.logscan"]`). For the whole session it
wraps `logging.Logger.callHandlers`, so it sees every record of every logger (the Powertools
`depistage` logger, root, botocore, pynamodb, chalice...) that reaches handlers, whatever their
`propagate`. Each record is rendered as message + args + extra fields + exception and stack text,
plus what a Powertools formatter on its way would write (keys added with `append_keys` live in the
formatter, not in the record), then searched for every value of `testkit.patients`: NIR in any
spacing, names (any case, with or without accents), e-mail, phone in any French form, birth date
in ISO, compact or French order, address line.

A leak fails the test phase (setup, call or teardown) during which it was logged, naming the test,
the logger and the value's kind, never the value. A leak outside any test (collection, session
start) fails the run through `pytest_sessionfinish`; under pytest-xdist each worker hands its own
to the controller, which fails the run. A test that checks the detector on purpose uses the
`leak_detector` fixture (records caught inside it are handed to the test, not counted as leaks)
or calls `find_leaks(text)` directly.

The `depistage` logger runs at DEBUG during the suite so that debug statements are scanned too.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from testkit.patients import PATIENTS, personal_needles

SERVICE_LOGGER = "depistage"
_SEP = r"[\s.\-_/]*"  # how a value may be spaced or punctuated when it leaks
_EXCERPT = 240
_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


# --- detection ---------------------------------------------------------------------------------


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SEPARATORS = re.compile(_SEP.replace("*", "+"))


def normalize(text: str) -> str:
    """JSON escapes decoded, accents off, case folded: "\\u00c9TIENNE" and "Etienne" look the same."""
    if "\\u" in text:
        text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if text.isascii():  # the usual log line: no accent to strip
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def squeeze(normalized: str) -> str:
    """Without spacing or punctuation: any spelling of a value contains the squeezed value."""
    return _SEPARATORS.sub("", normalized)


def _spaced(value: str) -> str:
    """A regex for `value` (normalized) with any spacing between its characters."""
    return _SEP.join(re.escape(ch) for ch in squeeze(normalize(value)))


def _bounded(pattern: str, value: str) -> str:
    """Do not match inside a longer word or number (a random id that happens to contain a name)."""
    value = normalize(value).strip()
    before = r"(?<![0-9])" if value[:1].isdigit() else r"(?<![a-z])" if value[:1].isalpha() else ""
    after = r"(?![0-9])" if value[-1:].isdigit() else r"(?![a-z])" if value[-1:].isalpha() else ""
    return f"{before}(?:{pattern}){after}"


def _patterns() -> list[tuple[str, str, str]]:
    """(label, regex, core) for every personal value of the test patients. The core is what any
    match contains once squeezed: a cheap substring test that rules out almost every record."""
    found: list[tuple[str, str, str]] = []

    def add(label: str, pattern: str, core: str) -> None:
        found.append((label, pattern, squeeze(normalize(core))))

    for i, p in enumerate(PATIENTS):
        who = f"test patient {i}"
        nir = p["nir"].replace(" ", "")
        # The 13 digits without the key, spaced any way; covers the full 15 too.
        add(f"NIR of {who}", r"(?<![0-9])" + _spaced(nir[:13]), nir[:13])
        for key in ("last_name", "first_name"):
            add(f"{key} of {who}", _bounded(_spaced(p[key]), p[key]), p[key])
        year, month, day = p["birth_date"].split("-")
        for order in ((year, month, day), (day, month, year)):
            add(f"birth date of {who}", rf"(?<![0-9]){_SEP.join(order)}(?![0-9])", "".join(order))
        if p.get("email"):
            add(f"e-mail of {who}", re.escape(normalize(p["email"])), p["email"])
        if p.get("phone"):
            nsn = "".join(c for c in p["phone"] if c.isdigit())[-9:]
            prefix = r"(?:(?:\+|00)?33[\s.\-]*(?:\(0\)[\s.\-]*)?|0)?"
            add(f"phone of {who}", rf"(?<![0-9]){prefix}{_spaced(nsn)}(?![0-9])", nsn)
        if p.get("address"):
            line = p["address"]["line"]
            add(
                f"address of {who}",
                _bounded(r"\s+".join(map(re.escape, normalize(line).split())), line),
                line,
            )
    # Whatever else testkit.patients lists, verbatim (bounded), so a value added there is covered.
    for j, needle in enumerate(personal_needles()):
        if squeeze(normalize(needle)):
            add(
                f"personal value #{j} of testkit.patients",
                _bounded(re.escape(normalize(needle)), needle),
                needle,
            )
    return found


@dataclass(frozen=True)
class _Detector:
    # (label, precise pattern, squeezed core): the core is searched first, the pattern only on a hit.
    each: tuple[tuple[str, re.Pattern[str], str], ...]

    @classmethod
    def build(cls) -> _Detector:
        return cls(tuple((label, re.compile(pattern), core) for label, pattern, core in _patterns()))

    def scan(self, text: str) -> tuple[list[str], str]:
        """(kinds of value found, a redacted excerpt around the first) for `text`."""
        normalized = normalize(text)
        squeezed = squeeze(normalized)
        kinds: list[str] = []
        first: re.Match[str] | None = None
        for label, pattern, core in self.each:
            if core not in squeezed or label in kinds:
                continue
            match = pattern.search(normalized)
            if match is not None:
                kinds.append(label)
                if first is None or match.start() < first.start():
                    first = match
        if first is None:
            return [], ""
        start = max(0, first.start() - _EXCERPT // 2)
        excerpt = normalized[start : start + _EXCERPT]
        for _label, pattern, _core in self.each:
            excerpt = pattern.sub("[personal value]", excerpt)
        return kinds, excerpt


_DETECTOR: _Detector | None = None


def _detector() -> _Detector:
    global _DETECTOR
    if _DETECTOR is None:
        _DETECTOR = _Detector.build()
    return _DETECTOR


def find_leaks(text: str) -> list[str]:
    """The kinds of test-patient value found in `text` (empty if none), e.g. "NIR of test patient 0"."""
    return _detector().scan(text)[0]


# --- capture -----------------------------------------------------------------------------------


def _powertools_formatters(logger: logging.Logger) -> list[logging.Formatter]:
    try:
        from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
    except ImportError:  # pragma: no cover - Powertools is a runtime dependency
        return []
    found: list[logging.Formatter] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            fmt = handler.formatter
            if isinstance(fmt, BasePowertoolsFormatter) and fmt not in found:
                found.append(fmt)
        current = current.parent if current.propagate else None
    return found


def render(logger: logging.Logger, record: logging.LogRecord) -> str:
    """Everything a handler could write for `record`, and more (all of its extra fields)."""
    parts = [record.name, record.levelname]
    try:
        parts.append(record.getMessage())
    except Exception:  # a bad format string still leaks its parts
        parts += [str(record.msg), repr(record.args)]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD_RECORD_KEYS]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    for fmt in _powertools_formatters(logger):
        try:
            parts.append(fmt.format(record))
        except Exception as exc:
            parts.append(f"<powertools formatter failed: {type(exc).__name__}>")
    return "\n".join(parts)


@dataclass(frozen=True)
class Leak:
    where: str  # test node id and phase, or "outside tests"
    logger: str
    level: str
    kinds: tuple[str, ...]
    excerpt: str

    def describe(self) -> str:
        return (
            f"{self.where}: logger {self.logger!r} ({self.level}) logged {', '.join(self.kinds)}\n"
            f"    redacted excerpt: {self.excerpt!r}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "logger": self.logger,
            "level": self.level,
            "kinds": list(self.kinds),
            "excerpt": self.excerpt,
        }


@dataclass
class _Scanner:
    records_seen: int = 0
    pending: list[Leak] = field(default_factory=list)  # not yet attributed to a test phase
    orphans: list[Leak] = field(default_factory=list)  # logged outside any test
    diverted: list[list[Leak]] = field(default_factory=list)  # leak_detector blocks, innermost last
    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: threading.local = field(default_factory=threading.local)
    original: Callable[[logging.Logger, logging.LogRecord], None] | None = None

    def observe(self, logger: logging.Logger, record: logging.LogRecord) -> None:
        if getattr(self.busy, "on", False):  # a record logged while rendering one: no recursion
            return
        self.busy.on = True
        try:
            kinds, excerpt = _detector().scan(render(logger, record))
        finally:
            self.busy.on = False
        with self.lock:
            self.records_seen += 1
            if kinds:
                leak = Leak("", record.name, record.levelname, tuple(kinds), excerpt)
                (self.diverted[-1] if self.diverted else self.pending).append(leak)

    def install(self) -> None:
        if self.original is not None:
            return
        original = logging.Logger.callHandlers
        scanner = self

        def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            try:
                scanner.observe(logger, record)
            except Exception as exc:  # fail closed: an unscanned record counts as a leak
                failure = Leak("", record.name, record.levelname, (f"unscannable record ({exc!r})",), "")
                with scanner.lock:
                    scanner.pending.append(failure)
            original(logger, record)

        self.original = original
        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self.original is not None:
            logging.Logger.callHandlers = self.original  # type: ignore[method-assign,assignment]
            self.original = None

    def take_pending(self, where: str) -> list[Leak]:
        with self.lock:
            taken = [Leak(where, lk.logger, lk.level, lk.kinds, lk.excerpt) for lk in self.pending]
            self.pending.clear()
        return taken

    @contextmanager
    def expect(self) -> Iterator[list[Leak]]:
        caught: list[Leak] = []
        with self.lock:
            self.diverted.append(caught)
        try:
            yield caught
        finally:
            with self.lock:
                self.diverted.remove(caught)


_SCANNER = _Scanner()


def scanner() -> _Scanner:
    return _SCANNER


# --- pytest hooks ------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG")
    logging.getLogger(SERVICE_LOGGER).setLevel(logging.DEBUG)
    _detector()  # a broken pattern fails the run at once, not in the first log call
    _SCANNER.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    _SCANNER.uninstall()


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    # Whatever was logged since the last test ended (collection, session start) is nobody's test.
    _SCANNER.orphans += _SCANNER.take_pending("outside tests (collection, session start/finish)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: Any = yield
    leaks = _SCANNER.take_pending(f"{item.nodeid} [{call.when}]")
    if leaks:
        text = "personal values of test patients in log records:\n" + "\n".join(lk.describe() for lk in leaks)
        if report.failed:
            report.sections.append(("log leaks", text))
        else:
            report.outcome = "failed"
            report.longrepr = text
    return report  # type: ignore[no-any-return]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect what a worker logged outside its tests."""
    output = getattr(node, "workeroutput", None) or {}
    worker = output.get("workerid", "a worker")
    _SCANNER.records_seen += int(output.get("logscan_records", 0))
    for raw in output.get("logscan_orphans", []):
        where = f"{raw['where']} on {worker}"
        _SCANNER.orphans.append(Leak(where, raw["logger"], raw["level"], tuple(raw["kinds"]), raw["excerpt"]))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _SCANNER.orphans += _SCANNER.take_pending("outside tests (collection, session start/finish)")
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller decides
        workeroutput["logscan_orphans"] = [lk.as_dict() for lk in _SCANNER.orphans]
        workeroutput["logscan_records"] = _SCANNER.records_seen
        return
    if _SCANNER.orphans and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if getattr(config, "workeroutput", None) is not None:
        return
    terminalreporter.write_line(
        f"logscan: {_SCANNER.records_seen} log records scanned for test patients' values "
        f"({len(_SCANNER.orphans)} leak(s) outside tests; leaks inside tests fail those tests)"
    )
    if _SCANNER.orphans:
        terminalreporter.section("log leaks outside tests", red=True)
        for leak in _SCANNER.orphans:
            terminalreporter.line(leak.describe(), red=True)
        terminalreporter.line(
            f"logscan: {len(_SCANNER.orphans)} leak(s) outside tests: the run fails", red=True
        )


@pytest.fixture
def leak_detector() -> Callable[[], Any]:
    """`with leak_detector() as caught:` - leaks logged inside are handed to the test in `caught`."""
    return _SCANNER.expect
