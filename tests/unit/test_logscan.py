"""The log scanner catches every spelling of a test patient's value, through every logger, and a
leak turns the run red, with or without pytest-xdist."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.patients import PATIENTS, personal_needles
from tests.logscan import find_leaks, scanner

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("nir=295109912611193", "NIR of test patient 0"),
        ("nir 2 95 10 99 126 111 93 ok", "NIR of test patient 0"),
        ("2-95-10-99-126-111-93", "NIR of test patient 0"),
        ("2.95.10.99.126.111", "NIR of test patient 0"),
        ("prefix 2951099126111 without key", "NIR of test patient 0"),
        ("corsica 269052a12345688", "NIR of test patient 2"),
        ("CORSICA 1 78 03 2B 012 345 29", "NIR of test patient 3"),
        ("PID|||^^^^NH||DUPONT^JEANNE", "last_name of test patient 0"),
        ("PID|||^^^^NH||DUPONT^JEANNE", "first_name of test patient 0"),
        ("name: ETIENNE", "first_name of test patient 1"),
        ('{"first_name": "\\u00c9tienne"}', "first_name of test patient 1"),
        ("Maria Lucia", "first_name of test patient 2"),
        ("born 1995-10-01", "birth date of test patient 0"),
        ("DTM 19951001", "birth date of test patient 0"),
        ("né le 17/05/1985", "birth date of test patient 1"),
        ("mail JEANNE.DUPONT@EXAMPLE.ORG", "e-mail of test patient 0"),
        ("tel +33 6 12 34 56 78", "phone of test patient 0"),
        ("tel 06.12.34.56.78", "phone of test patient 0"),
        ("tel 0033612345678", "phone of test patient 0"),
        ("tel +33 (0)6 98 76 54 32", "phone of test patient 1"),
        ("tel 04 95 12 34 56", "phone of test patient 3"),
        ("1 RUE DE LA PAIX", "address of test patient 0"),
    ],
)
def test_find_leaks_knows_every_spelling(text: str, kind: str) -> None:
    assert kind in find_leaks(text)


def test_every_listed_needle_is_found() -> None:
    for needle in personal_needles():
        assert find_leaks(f"value: {needle};"), needle


def test_identifiers_are_not_mistaken_for_personal_values() -> None:
    clean = [
        str(uuid.UUID(int=0x2951099126111930000000000000)),
        "record 3f2c1e4a-9b7d-4c1e-8f00-6a1b2c3d4e5f created",
        "finess 750000001 at 2026-11-29T10:15:00.000000Z, sampled 2026-11-29T10:15:00+01:00",
        "hash 0f9e8d7c6b5a4938271605f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a",
        "epoch 1764412345 count 9612345678 ref 39510991261119",
        "Martinez Duponte Jeannette Pariser",
        "status=ready result=negative device_id=1232",
    ]
    for text in clean:
        assert find_leaks(text) == [], text


def test_patients_still_have_the_fields_the_scanner_expects() -> None:
    for p in PATIENTS:
        assert {"nir", "last_name", "first_name", "birth_date"} <= set(p)


# --- in-process capture ------------------------------------------------------------------------

NIR = PATIENTS[0]["nir"]
EMAIL = PATIENTS[0]["email"]


def kinds(caught: list[Any]) -> set[str]:
    return {kind for leak in caught for kind in leak.kinds}


def test_the_service_logger_is_scanned_in_message_args_extra_keys_and_exceptions(
    leak_detector: Callable[[], Any],
) -> None:
    from chalicelib.observability import logger

    with leak_detector() as caught:
        logger.info(f"created for {NIR}")
    assert "NIR of test patient 0" in kinds(caught)
    with leak_detector() as caught:
        logger.info("created for %s", EMAIL)
    assert "e-mail of test patient 0" in kinds(caught)
    with leak_detector() as caught:
        logger.info("created", extra={"patient": {"birth_date": "1995-10-01"}})
    assert "birth date of test patient 0" in kinds(caught)
    with leak_detector() as caught:
        logger.append_keys(patient_name="Dupont")  # lives in the Powertools formatter, not the record
        try:
            logger.info("created")
        finally:
            logger.remove_keys(["patient_name"])
    assert "last_name of test patient 0" in kinds(caught)
    with leak_detector() as caught:
        try:
            raise ValueError(f"bad phone {PATIENTS[0]['phone']}")
        except ValueError:
            logger.exception("validation failed")
    assert "phone of test patient 0" in kinds(caught)
    with leak_detector() as caught:
        logger.debug("debug too: %s", NIR)  # the suite runs the service logger at DEBUG
    assert caught and caught[0].level == "DEBUG"


def test_every_logger_is_scanned_whatever_its_propagation(leak_detector: Callable[[], Any]) -> None:
    isolated = logging.getLogger("tests.logscan.isolated")
    isolated.propagate = False  # like Powertools: no propagation, and here not even a handler
    try:
        with leak_detector() as caught:
            logging.getLogger("botocore.endpoint").warning("sent %s", NIR)
            logging.getLogger().error("root: %s", EMAIL)
            isolated.error("isolated: Casanova")
        assert [leak.logger for leak in caught] == ["botocore.endpoint", "root", "tests.logscan.isolated"]
    finally:
        isolated.propagate = True


def test_records_from_other_threads_are_scanned(leak_detector: Callable[[], Any]) -> None:
    with leak_detector() as caught:
        worker = threading.Thread(target=lambda: logging.getLogger("pynamodb").warning("item %s", NIR))
        worker.start()
        worker.join()
    assert "NIR of test patient 0" in kinds(caught)


def test_clean_records_are_counted_and_not_flagged(leak_detector: Callable[[], Any]) -> None:
    from chalicelib.observability import logger

    before = scanner().records_seen
    with leak_detector() as caught:
        logger.info("record created", extra={"record_id": str(uuid.uuid4()), "finess": "750000001"})
    assert caught == []
    assert scanner().records_seen == before + 1


# --- the gate: a leak makes pytest fail, with or without xdist ---------------------------------

CLEAN_TEST = """
    import logging

    def test_clean():
        logging.getLogger("depistage").info("record %s created", "3f2c1e4a")
"""
LEAK_IN_TEST = """
    from chalicelib.observability import logger

    def test_leaks():
        logger.info("patient %s", "2 95 10 99 126 111 93")
"""
LEAK_AT_IMPORT = """
    import logging

    logging.getLogger("depistage.import").warning("imported with jeanne.dupont@example.org")

    def test_fine():
        assert True
"""


def run_inner(tmp_path: Path, files: dict[str, str], *args: str) -> tuple[int, str]:
    for name, source in files.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.logscan",
            "-p",
            "no:cacheprovider",
            "--show-capture=no",
            "--rootdir",
            str(tmp_path),
            *args,
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_scanner_is_active_for_this_whole_suite(pytestconfig: pytest.Config) -> None:
    """Loaded by the root conftest (`pytest_plugins`), so every test of the suite runs under it;
    the suite itself, passing under `make test` (-n 2), is the clean control of the runs below."""
    assert pytestconfig.pluginmanager.has_plugin("tests.logscan")
    assert scanner().original is not None
    assert logging.Logger.callHandlers is not scanner().original  # the wrapper is in place


def test_a_leak_in_a_test_fails_that_test_under_xdist(tmp_path: Path) -> None:
    code, out = run_inner(tmp_path, {"test_clean.py": CLEAN_TEST, "test_leak.py": LEAK_IN_TEST}, "-n", "2")
    assert code == 1, out
    assert "FAILED test_leak.py::test_leaks" in out and "1 failed, 1 passed" in out
    assert "NIR of test patient 0" in out
    assert "2 95 10 99 126 111 93" not in out  # the report names the kind, never the value


def test_a_leak_outside_tests_fails_the_run_under_xdist(tmp_path: Path) -> None:
    code, out = run_inner(
        tmp_path, {"test_clean.py": CLEAN_TEST, "test_import.py": LEAK_AT_IMPORT}, "-n", "2"
    )
    assert code == 1, out
    assert "2 passed" in out and "log leaks outside tests" in out
    assert "e-mail of test patient 0" in out and "jeanne.dupont@example.org" not in out


def test_a_leak_fails_a_serial_run_too(tmp_path: Path) -> None:
    files = {"test_clean.py": CLEAN_TEST, "test_leak.py": LEAK_IN_TEST, "test_import.py": LEAK_AT_IMPORT}
    code, out = run_inner(tmp_path, files)
    assert code == 1, out
    assert "FAILED test_leak.py::test_leaks" in out and "log leaks outside tests" in out
