"""The one way a route is declared: `ApiBlueprint.route` puts every view behind the problem mapping.

A view raises domain errors; the edge answers them as problem+json (chalicelib/api/problems.py) and
anything else as a 500 that echoes nothing. No view can forget it: the blueprint applies it, and a
test walks `app.routes` to prove every view went through here (tests/api/test_routing.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Blueprint

from chalicelib.api.problems import mapped

_MARK = "__depistage_edge__"


def edge(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view` behind the problem mapping, marked as such.

    The view is looked up on each call (`__wrapped__`, set by functools.wraps), so that a test can
    stand in for any route's body and see the mapping that route really applies.
    """

    @functools.wraps(view)
    def routed(*args: Any, **kwargs: Any) -> Any:
        body: Callable[..., Any] = routed.__wrapped__
        return mapped(lambda: body(*args, **kwargs))

    setattr(routed, _MARK, True)
    return routed


def is_edge(view: Callable[..., Any]) -> bool:
    return getattr(view, _MARK, False) is True


class ApiBlueprint(Blueprint):
    """A Chalice Blueprint whose routes are all behind the problem mapping."""

    def route(self, path: str, **kwargs: Any) -> Callable[..., Any]:
        register = super().route(path, **kwargs)

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            return register(edge(view))  # type: ignore[no-any-return]

        return decorator
