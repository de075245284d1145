"""A use case's module, imported when a route first calls it rather than when the API function
starts: `import app` stays close to a bare `import boto3` (bench/notes.md, cold start), and a cold
request that calls no use case (health, the API document) pays for none. Views name the module as
usual; mypy reads the real import under TYPE_CHECKING."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module `name`; its first attribute read imports it (under the import lock,
    so threads of `chalice local` are safe), later reads find it in `sys.modules`."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def lazy(name: str) -> Any:
    return LazyModule(name)
