"""Stripe's wire format: bracket-encoded parameters, error JSON and list paging."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from portal.devstack.stripe_emulator.objects import Json, list_object

_INTEGER = re.compile(r"-?\d{1,18}")


class StripeError(Exception):
    """An error answered in Stripe's JSON shape (``{"error": {...}}``)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        error: Json = {"type": kind, "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        self.body = {"error": error}


def missing(kind: str, object_id: str, param: str, *, status: int = 404) -> StripeError:
    """Stripe's ``resource_missing``: 404 for the URL's object, 400 for a parameter's."""
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def parse_params(pairs: Iterable[tuple[str, str]]) -> Json:
    """Stripe's bracket encoding into nested values.

    ``a[b][c]=1`` becomes ``{"a": {"b": {"c": "1"}}}``; ``expand[]=x`` and
    ``expand[0]=x`` become lists. A key used both as a value and as a hash or list
    (``a=1&a[b]=2``) is a 400, as at Stripe.
    """
    root: Json = {}
    for key, value in pairs:
        path = _key_path(key)
        try:
            _place(root, path, value)
        except (TypeError, ValueError, IndexError):
            raise StripeError(400, f"Invalid value for {key}.", param=path[0]) from None
    return root


def _key_path(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    return [head, *rest.removesuffix("]").split("][")]


def _place(root: Json, path: list[str], value: str) -> None:
    node: Any = root
    for index, part in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, list):
            position = int(part) if part else len(node)
            if position > len(node) + 100:
                raise ValueError(part)  # a sparse index is a typo, not a 10**9-long list
            while len(node) <= position:
                node.append({})
            if last:
                node[position] = value
            else:
                node = _child(node, position, path[index + 1])
        elif not isinstance(node, dict):
            raise TypeError(part)
        elif last:
            node[part] = value
        else:
            node = _child(node, part, path[index + 1])


def _child(node: Any, key: Any, following: str) -> Any:
    """``node[key]``, made a list or a hash depending on what the next key looks like."""
    wants_list = following == "" or following.isdigit()
    current = node[key] if isinstance(node, list) else node.get(key)
    if current is None or (current == {} and wants_list):
        node[key] = [] if wants_list else {}
    return node[key]


class Params:
    """A request's parameters, taken one by one; what is left over is unknown to Stripe."""

    def __init__(self, values: Json, prefix: str = "") -> None:
        self._values = dict(values)
        self._prefix = prefix

    def name(self, key: str) -> str:
        """``key`` as Stripe names it in errors (``line_items[0][price]``)."""
        return f"{self._prefix}[{key}]" if self._prefix else key

    def has(self, key: str) -> bool:
        """Whether ``key`` was sent."""
        return key in self._values

    def peek(self, key: str) -> Any:
        """``key``'s raw value, without taking it."""
        return self._values.get(key)

    def string(self, key: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        """A string parameter (``None`` when absent)."""
        value = self._take(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise StripeError(400, f"Invalid string: {value!r}", param=self.name(key))
        if len(value) > max_length:
            raise StripeError(
                400,
                f"Invalid string: must be at most {max_length} characters",
                param=self.name(key),
            )
        return value

    def choice(self, key: str, choices: tuple[str, ...], *, default: str | None = None) -> str:
        """A string that must be one of ``choices`` (required unless there is a default)."""
        value = self.string(key, required=default is None)
        if value is None:
            value = default
        if value not in choices:
            listed = ", ".join(choices)
            raise StripeError(400, f"Invalid {key}: must be one of {listed}", param=self.name(key))
        return value

    def integer(
        self, key: str, *, required: bool = False, low: int | None = None, high: int | None = None
    ) -> int | None:
        """An integer parameter, optionally bounded."""
        value = self._take(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not _INTEGER.fullmatch(value):
            raise StripeError(400, f"Invalid integer: {value}", param=self.name(key))
        number = int(value)
        if low is not None and number < low:
            raise StripeError(
                400,
                f"This value must be greater than or equal to {low}.",
                param=self.name(key),
            )
        if high is not None and number > high:
            raise StripeError(
                400,
                f"This value must be less than or equal to {high} (it currently is '{number}').",
                param=self.name(key),
            )
        return number

    def hash(self, key: str, *, required: bool = False) -> Params | None:
        """A nested hash, as its own :class:`Params` (finish it too)."""
        value = self._take(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise StripeError(400, "Invalid hash", param=self.name(key))
        return Params(value, self.name(key))

    def hashes(self, key: str, *, required: bool = False) -> list[Params]:
        """An array of hashes (``line_items[0][…]``), each as its own :class:`Params`."""
        value = self._take(key, required)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise StripeError(400, "Invalid array", param=self.name(key))
        return [Params(v, f"{self.name(key)}[{i}]") for i, v in enumerate(value)]

    def strings(self, key: str) -> list[str] | None:
        """An array of strings (``expand[]``, ``payment_method_types[]``)."""
        value = self._take(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise StripeError(400, "Invalid array", param=self.name(key))
        return list(value)

    def metadata(self) -> dict[str, str]:
        """``metadata[…]``: string values only, as at Stripe."""
        found = self.hash("metadata")
        if found is None:
            return {}
        values = found.rest()
        if not all(isinstance(v, str) for v in values.values()):
            raise StripeError(400, "Invalid metadata: values must be strings", param="metadata")
        return values

    def rest(self) -> Json:
        """Everything not taken yet (and take it)."""
        values, self._values = self._values, {}
        return values

    def finish(self) -> None:
        """Raise Stripe's error for the first parameter nobody took."""
        if self._values:
            key = sorted(self._values)[0]
            raise StripeError(
                400, f"Received unknown parameter: {self.name(key)}", param=self.name(key)
            )

    def _take(self, key: str, required: bool) -> Any:
        value = self._values.pop(key, None)
        if value is None and required:
            raise StripeError(
                400, f"Missing required param: {self.name(key)}.", param=self.name(key)
            )
        return value


@dataclass(frozen=True)
class Paging:
    """``limit``, ``starting_after`` and ``ending_before`` of a list request."""

    limit: int
    starting_after: str | None
    ending_before: str | None

    @classmethod
    def take(cls, params: Params) -> Paging:
        """Read (and validate) the paging parameters."""
        limit = params.integer("limit", low=1, high=100)
        after = params.string("starting_after")
        before = params.string("ending_before")
        if after and before:
            raise StripeError(
                400,
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        return cls(10 if limit is None else limit, after or None, before or None)

    def page(
        self,
        ordered: list[Json],
        url: str,
        *,
        key: Callable[[Json], Any],
        find: Callable[[str], Json | None],
        kind: str,
    ) -> Json:
        """One page of ``ordered`` (sorted by ``key``), cut around the cursor object.

        The cursor is placed by its own sort key, so it need not match the list's
        filters (Stripe's cursors work the same way); an id that does not exist is 400.
        """
        if self.starting_after:
            mark = key(self._cursor(find, self.starting_after, kind, "starting_after"))
            after = [obj for obj in ordered if key(obj) > mark]
            return list_object(after[: self.limit], url, has_more=len(after) > self.limit)
        if self.ending_before:
            mark = key(self._cursor(find, self.ending_before, kind, "ending_before"))
            before = [obj for obj in ordered if key(obj) < mark]
            return list_object(before[-self.limit :], url, has_more=len(before) > self.limit)
        return list_object(ordered[: self.limit], url, has_more=len(ordered) > self.limit)

    @staticmethod
    def _cursor(find: Callable[[str], Json | None], object_id: str, kind: str, param: str) -> Json:
        found = find(object_id)
        if found is None:
            raise missing(kind, object_id, param, status=400)
        return found
