"""The pinned API version's operations and their parameters, read from stripe-python 16.

Each method of the SDK's generated services (``stripe/**/_*_service.py``) makes one
request: ``self._request("get", "/v1/checkout/sessions/{session}".format(…), params=…)``,
its ``params`` annotated with the request-param ``TypedDict`` of that operation
(``stripe.params.checkout.SessionRetrieveParams``) and its return with what it answers.
:func:`request_problems` checks a request as the portal sent it against them: every
parameter defined for the operation (nested hashes and enum values included), every
``expand`` path resolving through the expandable and includable fields of the answer's
type, at most Stripe's four levels deep.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union
from urllib.parse import parse_qsl, urlsplit

import stripe
import typing_extensions
from stripe._request_options import RequestOptions

from tests.support.stripe_schema import _namespace, fields_of, includable, kind_of

#: Stripe expands at most four levels (``data.payment_intent.latest_charge.refunds``).
MAX_EXPAND_DEPTH = 4


@dataclass(frozen=True)
class Operation:
    """One API operation of the pinned version."""

    method: str
    #: ``/v1/checkout/sessions/{session}``
    template: str
    #: The request-param ``TypedDict``.
    params: Any
    #: The annotation of what it answers (``ListObject[Session]``, ``Session``).
    answers: Any
    #: ``SessionService.retrieve``, for messages.
    name: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.template)) + "$")


@cache
def operations() -> tuple[Operation, ...]:
    """Every ``/v1`` operation of the SDK's services."""
    root = Path(stripe.__file__).parent
    found: list[Operation] = []
    for path in sorted(root.rglob("_*_service.py")):
        module_name = ".".join(["stripe", *path.relative_to(root).with_suffix("").parts])
        for class_name, method_name, verb, template in _requests_in(path):
            if not template.startswith("/v1/"):
                continue
            service = getattr(importlib.import_module(module_name), class_name)
            function = getattr(service, method_name)
            hints = typing.get_type_hints(function, globalns=_namespace(module_name))
            params = _strip_optional(hints.get("params"))
            name = f"{class_name}.{method_name}"
            found.append(Operation(verb, template, params, hints.get("return"), name))
    return tuple(found)


def _requests_in(path: Path) -> list[tuple[str, str, str, str]]:
    """``(class, method, http method, path template)`` of each sync service method."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for function in node.body:
            if not isinstance(function, ast.FunctionDef):
                continue
            for call in ast.walk(function):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "_request"
                    and len(call.args) >= 2
                    and isinstance(call.args[0], ast.Constant)
                ):
                    template = _template(call.args[1])
                    if template:
                        found.append((node.name, function.name, str(call.args[0].value), template))
    return found


def _template(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return str(node.func.value.value)
    return None


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Union and len(args) == 1:
        return args[0]
    return annotation


def operation_for(method: str, path: str) -> Operation | None:
    """The operation a request is: ``/v1/customers/search`` before ``/v1/customers/{id}``."""
    matching = [
        op
        for op in operations()
        if op.method == method.lower() and op.pattern.match(path.split("?", 1)[0])
    ]
    matching.sort(key=lambda op: op.template.count("{"))
    return matching[0] if matching else None


# --- parameters --------------------------------------------------------------------------

#: Keys every param TypedDict inherits from ``RequestOptions`` (``api_key``, …): options
#: of the SDK's call, never parameters on the wire.
_OPTIONS = set(RequestOptions.__annotations__)


def request_problems(method: str, path: str, params: dict[str, Any]) -> list[str]:
    """Every way a request differs from the pinned version's definition of it."""
    op = operation_for(method, path)
    if op is None:
        return [f"{method} {path}: not an operation of the pinned version"]
    where = f"{method} {path} ({op.name})"
    problems = [f"{where}: {p}" for p in _typed_dict_problems(params, op.params, "", top=True)]
    for expand in params.get("expand") or []:
        problem = expand_problem(op.answers, str(expand))
        if problem:
            problems.append(f"{where}: expand {expand}: {problem}")
    return problems


def _typed_dict_problems(value: Any, typed: Any, at: str, *, top: bool = False) -> list[str]:
    if not isinstance(value, dict):
        return [f"{at or 'params'}: {value!r} where a hash is defined"]
    hints = _param_hints(typed)
    problems = []
    for key, item in value.items():
        here = f"{at}[{key}]" if at else key
        if key not in hints:
            problems.append(f"{here}: not a parameter of this operation")
            continue
        problems += _value_problems(item, hints[key], here)
    return problems


@cache
def _param_hints(typed: Any) -> dict[str, Any]:
    """A param TypedDict's parameters with their types resolved (``typing.get_type_hints``
    cannot: the inherited ``RequestOptions`` keys name classes imported only for type
    checkers)."""
    names = _namespace(typed.__module__)
    return {
        key: _resolved(annotation, names)
        for key, annotation in typed.__annotations__.items()
        if key not in _OPTIONS
    }


def _resolved(annotation: Any, names: dict[str, Any]) -> Any:
    if isinstance(annotation, str):
        annotation = typing.ForwardRef(annotation)
    if isinstance(annotation, typing.ForwardRef):
        # The SDK's own annotation text, evaluated as typing.get_type_hints would.
        return _resolved(eval(annotation.__forward_arg__, dict(names)), names)  # noqa: S307
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.NotRequired, typing.Required):
        return _resolved(args[0], names)
    if origin is Literal or not args:
        return annotation
    resolved = tuple(_resolved(a, names) for a in args)
    if origin in (Union, types.UnionType):
        return Union[resolved]  # noqa: UP007
    return annotation.copy_with(resolved)


def _value_problems(value: Any, annotation: Any, at: str) -> list[str]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        alternatives = [a for a in args if a is not type(None)]
        enum = {
            _wire(v) for a in alternatives if typing.get_origin(a) is Literal for v in a.__args__
        }
        if enum and str in alternatives and isinstance(value, str):
            # An enum the SDK leaves open to later values: one of the pinned version's.
            return [] if value in enum else [f"{at}: {value!r} is not one of {sorted(enum)}"]
        tried = [_value_problems(value, a, at) for a in alternatives]
        return [] if any(not found for found in tried) else min(tried, key=len)
    if origin is Literal:
        allowed = {_wire(v) for v in args}
        return [] if _wire(value) in allowed else [f"{at}: {value!r} is not one of {allowed}"]
    if origin in (list, typing.List):  # noqa: UP006
        if isinstance(value, dict):  # ``a[0]=…`` parsed as a hash by index
            value = list(value.values())
        if not isinstance(value, list):
            return [f"{at}: {value!r} where a list is defined"]
        return [p for n, v in enumerate(value) for p in _value_problems(v, args[0], f"{at}[{n}]")]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return [] if isinstance(value, dict) else [f"{at}: {value!r} where a hash is defined"]
    if typing_extensions.is_typeddict(annotation):
        return _typed_dict_problems(value, annotation, at)
    return _scalar_problems(value, annotation, at)


def _scalar_problems(value: Any, annotation: Any, at: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{at}: {value!r} where a {getattr(annotation, '__name__', annotation)} is defined"]
    if annotation is int and not re.fullmatch(r"-?\d+", value):
        return [f"{at}: {value!r} is not an integer"]
    if annotation is bool and value not in ("true", "false"):
        return [f"{at}: {value!r} is not a boolean"]
    return []


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- expand paths ------------------------------------------------------------------------


def expand_problem(answers: Any, path: str) -> str | None:
    """Why ``path`` cannot be expanded on what an operation answers; ``None`` if it can."""
    parts = path.split(".")
    if len(parts) > MAX_EXPAND_DEPTH:
        return f"more than {MAX_EXPAND_DEPTH} levels"
    current = answers
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        kind = kind_of(current)
        if kind.form == "list_object":
            if part != "data" or last:
                return f"a list expands only what is under data, not {part!r}"
            current = kind.of
            continue
        if kind.form not in ("object", "expandable"):
            return f"{part!r} is inside something that does not expand"
        cls = kind.of
        declared = fields_of(cls)
        if part not in declared:
            return f"{cls.__qualname__} has no field {part!r}"
        field = kind_of(declared[part])
        if field.form == "expandable":
            current = field.of
        elif includable(cls, part):
            current = declared[part] if field.form == "list_object" else field.of
        elif field.form == "object" and not last:
            current = field.of  # a nested hash is walked through, not expanded
        else:
            return f"{cls.__qualname__}.{part} is neither expandable nor includable"
    return None


def undefined_requests(calls: Iterable[Any], api: str = "https://api.stripe.com") -> list[str]:
    """What the pinned version does not define in the requests ``responses`` saw going to
    ``api`` (``mock.calls``): query and form parameters both, bracket-decoded."""
    from portal.devstack.stripe_emulator import parse_params  # Stripe's wire format

    problems: list[str] = []
    for call in calls:
        request = call.request
        if not str(request.url).startswith(api + "/v1/"):
            continue
        parts = urlsplit(str(request.url))
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        pairs += parse_qsl(body, keep_blank_values=True)
        problems += request_problems(str(request.method), parts.path, parse_params(pairs))
    return problems
