"""One process, one core: the journal's per-chain lock and cached heads, the cipher's data-key cache
are shared by every request and job of the process only if there is one core. A job asking for the
core while the API's container is being built must get the container's, not build a second one
(whose journal would race the first for each chain's head, the 503 the per-chain lock removed)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib import bootstrap


class _Announcing:
    """The bootstrap's lock, announcing each attempt to take it."""

    def __init__(self, lock: Any, waiting: threading.Event) -> None:
        self._lock, self._waiting = lock, waiting

    def __enter__(self) -> None:
        self._waiting.set()
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_the_core_asked_for_while_the_container_is_built_is_the_container_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real, waiting = threading.Lock(), threading.Event()
    monkeypatch.setattr(bootstrap, "_lock", _Announcing(real, waiting))
    monkeypatch.setattr(bootstrap, "_core", None)
    monkeypatch.setattr(bootstrap, "_container", None)
    monkeypatch.setattr(bootstrap, "build_core", lambda *a, **k: "a second core")
    monkeypatch.setattr(bootstrap, "get_settings", lambda: None)
    got: list[object] = []
    real.acquire()  # the container's build holds the lock
    job = threading.Thread(target=lambda: got.append(bootstrap.get_core()))
    job.start()
    assert waiting.wait(5)  # the job found no container and waits for the lock
    container_core = object()
    monkeypatch.setattr(bootstrap, "_container", SimpleNamespace(core=container_core))
    real.release()
    job.join(5)
    assert got == [container_core]
