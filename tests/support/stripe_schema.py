"""The pinned API version's object shapes, read from Stripe's generated SDKs at test time.

Both SDKs are generated from Stripe's OpenAPI specification for the version they pin
(``2026-10-28.endive``; the tests check that both pin the same one):

- **stripe-python 16** (installed): each resource class annotates its fields; a
  ``Literal`` union is an enum (the SDK adds ``str`` for values added later), ``Optional``
  means Stripe may send ``null`` *or leave the field out*, ``ExpandableField[X]`` an id that
  expands to ``X``, ``ListObject[X]`` a list object, a nested ``StripeObject`` subclass a
  nested hash.
- **the npm ``stripe`` package** (``node_modules/stripe``, pinned in ``package.json``): its
  type definitions keep apart what stripe-python merges into ``Optional``: ``field: X | null``
  is always sent (maybe ``null``), ``field?: X`` only sometimes (an *includable* field that
  only an ``expand`` adds, or one that only some objects carry).

Nothing here lists a field by hand: :func:`shape_problems` walks an object as the emulator
sent it and reports every way it differs from the pinned version.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

import stripe
from stripe._list_object import ListObject
from stripe._search_result_object import SearchResultObject
from stripe._stripe_object import StripeObject, UntypedStripeObject

ROOT = Path(__file__).resolve().parents[2]
NPM_STRIPE = ROOT / "node_modules" / "stripe"

Json = dict[str, Any]
#: ``field → what to expand inside it``: an ``expand[]`` list as a tree.
Expanded = dict[str, "Expanded"]


def expand_tree(paths: list[str] | tuple[str, ...] = ()) -> Expanded:
    """``["data.line_items", "data.payment_intent.latest_charge"]`` as a tree."""
    tree: Expanded = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


# --- stripe-python: the classes and their annotations -------------------------------------


def resource_class(object_name: str) -> type[StripeObject]:
    """The SDK's class for objects whose ``object`` is ``object_name`` (``"charge"``)."""
    from stripe._object_classes import get_object_class

    found = get_object_class("V1", object_name)
    if found is None:
        raise KeyError(f"stripe-python has no class for object {object_name!r}")
    return found


@cache
def _namespace(module_name: str) -> dict[str, Any]:
    """The names a module's annotations use, its ``if TYPE_CHECKING:`` imports included
    (that is where the generated code imports the classes it names in quotes)."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    names = dict(vars(module))
    source = Path(module.__file__ or "").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imported in node.body:
                if isinstance(imported, ast.ImportFrom) and imported.module:
                    origin = importlib.import_module(imported.module)
                    for alias in imported.names:
                        names[alias.asname or alias.name] = getattr(origin, alias.name)
    return names


@cache
def fields_of(cls: type) -> dict[str, Any]:
    """The wire fields ``cls`` declares, with their resolved types (ClassVars left out)."""
    own = inspect.get_annotations(cls)
    hints = typing.get_type_hints(cls, globalns=_namespace(cls.__module__), localns=vars(cls))
    remapped = getattr(cls, "_field_remappings", {}) or {}
    return {
        remapped.get(name, name): hints[name]
        for name in own
        if not name.startswith("_") and typing.get_origin(hints[name]) is not typing.ClassVar
    }


@dataclass(frozen=True)
class Kind:
    """One annotation, taken apart."""

    nullable: bool
    #: ``scalar``, ``enum``, ``expandable``, ``list_object``, ``array``, ``object``, ``free``
    form: str
    #: The Python types a scalar may be; an enum's allowed values; the element annotation.
    of: Any = None


def kind_of(annotation: Any) -> Kind:
    """What ``annotation`` allows, with ``Optional`` and the SDK's extra ``str`` undone."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        nullable = type(None) in args
        rest = [a for a in args if a is not type(None)]
        literals = [a for a in rest if typing.get_origin(a) is Literal]
        if literals:  # ``Union[Literal[...], str]``: the enum, open to later values
            values = {v for lit in literals for v in typing.get_args(lit)}
            return Kind(nullable, "enum", frozenset(values))
        classes = [a for a in rest if a is not str]
        if str in rest and len(classes) == 1 and _is_object_class(classes[0]):
            return Kind(nullable, "expandable", classes[0])
        if len(rest) == 1:
            inner = kind_of(rest[0])
            return Kind(nullable or inner.nullable, inner.form, inner.of)
        return Kind(nullable, "scalar", tuple(_scalar_types(a) for a in rest))
    if origin is Literal:
        return Kind(False, "enum", frozenset(args))
    if origin in (list, typing.List):  # noqa: UP006
        return Kind(False, "array", args[0])
    if isinstance(origin, type) and issubclass(origin, (ListObject, SearchResultObject)):
        return Kind(False, "list_object", args[0])
    if isinstance(origin, type) and issubclass(origin, UntypedStripeObject):
        return Kind(False, "free")
    if origin in (dict, typing.Dict) or annotation is Any:  # noqa: UP006
        return Kind(False, "free")
    if _is_object_class(annotation):
        return Kind(False, "object", annotation)
    return Kind(False, "scalar", (_scalar_types(annotation),))


def _is_object_class(annotation: Any) -> bool:
    return (
        isinstance(annotation, type)
        and issubclass(annotation, StripeObject)
        and not issubclass(annotation, UntypedStripeObject)
    )


def _scalar_types(annotation: Any) -> tuple[type, ...]:
    if annotation is bool:
        return (bool,)
    if annotation is int:
        return (int,)
    if annotation is float:
        return (int, float)
    if annotation is Decimal:
        return (str,)  # decimals travel as strings
    if annotation is str:
        return (str,)
    return (object,)


# --- the npm package: which fields are always sent ----------------------------------------

_DECLARATION = re.compile(
    r"^(?:export\s+)?(?:declare\s+)?(namespace|interface|class)\s+(\w+)[^{]*\{\s*$"
)
_FIELD = re.compile(r"^(\w+)(\?)?:\s*(.+?);?$")


@dataclass(frozen=True)
class Sent:
    """How Stripe sends one field, as the npm package's types say."""

    #: ``field: …`` (always there) rather than ``field?: …`` (only sometimes).
    always: bool
    #: ``… | null``.
    nullable: bool


@dataclass
class _Interface:
    fields: dict[str, Sent] = field(default_factory=dict)
    #: The ``object`` literal of a resource's interface (``'checkout.session'``).
    object_name: str | None = None


@cache
def npm_api_version() -> str:
    """The API version the npm package pins."""
    source = (NPM_STRIPE / "cjs" / "apiVersion.js").read_text()
    found = re.search(r"ApiVersion = '([^']+)'", source)
    assert found, "node_modules/stripe/cjs/apiVersion.js names no version"
    return found.group(1)


@cache
def _npm_interfaces() -> dict[tuple[str, str], _Interface]:
    """Every interface of the npm package's resources, by ``(file, dotted name)``."""
    found: dict[tuple[str, str], _Interface] = {}
    resources = NPM_STRIPE / "cjs" / "resources"
    if not resources.is_dir():
        raise FileNotFoundError(f"{resources} is missing: run `npm ci`")
    for path in resources.rglob("*.d.ts"):
        found.update(_parse_declarations(path.relative_to(resources).as_posix(), path))
    return found


def _parse_declarations(name: str, path: Path) -> dict[tuple[str, str], _Interface]:
    text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.DOTALL)
    found: dict[tuple[str, str], _Interface] = {}
    # Each entry: (kind, name) of an open brace; kind "other" for anything else.
    stack: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        declared = _DECLARATION.match(line)
        if declared:
            stack.append((declared.group(1), declared.group(2)))
            if declared.group(1) == "interface":
                dotted = ".".join(n for k, n in stack if k in ("namespace", "interface"))
                found[(name, dotted)] = _Interface()
            continue
        if stack and stack[-1][0] == "interface" and line not in ("}", "};"):
            described = _FIELD.match(line)
            if described:
                dotted = ".".join(n for k, n in stack if k in ("namespace", "interface"))
                current = found[(name, dotted)]
                current.fields[described.group(1)] = Sent(
                    always=described.group(2) is None,
                    nullable=bool(re.search(r"\|\s*null\b", described.group(3))),
                )
                literal = re.fullmatch(r"'([^']+)'", described.group(3).rstrip(";"))
                if described.group(1) == "object" and literal:
                    current.object_name = literal.group(1)
        for char in line:
            if char == "{":
                stack.append(("other", ""))
            elif char == "}" and stack:
                stack.pop()
    return found


@cache
def _npm_resources() -> dict[tuple[str, str], str]:
    """``(object name, interface name)`` → the file that declares it (``Invoice`` and
    ``DeletedInvoice`` both say ``object: 'invoice'``)."""
    return {
        (iface.object_name, key[1]): key[0]
        for key, iface in _npm_interfaces().items()
        if iface.object_name and "." not in key[1]
    }


def how_sent(cls: type) -> dict[str, Sent] | None:
    """For the class ``cls`` (a resource or one of its nested hashes): how Stripe sends
    each field; ``None`` when the npm package has no interface of that name."""
    qualname = cls.__qualname__.split(".")
    root: type = sys.modules[cls.__module__]  # type: ignore[assignment]
    for part in qualname[:1]:
        root = getattr(root, part)
    object_name = getattr(root, "OBJECT_NAME", None)
    file = _npm_resources().get((str(object_name), qualname[0]))
    if file is None:
        return None
    dotted = ".".join(qualname)
    iface = _npm_interfaces().get((file, dotted))
    return None if iface is None else iface.fields


# --- checking an object -------------------------------------------------------------------


@dataclass
class Checker:
    """Collects every difference between sent objects and the pinned version."""

    problems: list[str] = field(default_factory=list)
    #: Classes whose nested shape the npm package does not name (checked by Python alone).
    unmatched: set[str] = field(default_factory=set)

    def check(self, obj: Json, expanded: Expanded | None = None, *, at: str = "") -> None:
        """Check a resource (found by its ``object``) sent with ``expanded`` expansions."""
        name = obj.get("object")
        if name == "list" or name == "search_result":
            self._list(obj, None, expanded or {}, at or name)
            return
        self._object(obj, resource_class(str(name)), expanded or {}, at or str(name))

    def _object(self, obj: Any, cls: type, expanded: Expanded, at: str) -> None:
        if not isinstance(obj, dict):
            self.problems.append(f"{at}: {type(obj).__name__} where a hash is defined")
            return
        declared = fields_of(cls)
        sent = how_sent(cls)
        if sent is None:
            self.unmatched.add(f"{cls.__module__}.{cls.__qualname__}")
        for key in obj:
            if key not in declared:
                self.problems.append(f"{at}.{key}: not a field of the pinned version")
        for key, annotation in declared.items():
            kind = kind_of(annotation)
            here = f"{at}.{key}"
            how = sent.get(key) if sent is not None else None
            if key not in obj:
                if (how and how.always) or (how is None and not kind.nullable):
                    self.problems.append(f"{here}: missing (always sent by Stripe)")
                continue
            if includable(cls, key) and key not in expanded:
                self.problems.append(f"{here}: includable, sent without being expanded")
            if obj[key] is None:
                if not (how.nullable if how else kind.nullable):
                    self.problems.append(f"{here}: null, never null in the pinned version")
                continue
            self._value(obj[key], kind, expanded.get(key), here)
        for key in expanded:
            if key not in declared:
                self.problems.append(f"{at}.{key}: expanded but not a field")

    def _value(self, value: Any, kind: Kind, expanded: Expanded | None, at: str) -> None:
        if value is None:
            if not kind.nullable:
                self.problems.append(f"{at}: null, never null in the pinned version")
            return
        if kind.form == "enum":
            if value not in kind.of:
                self.problems.append(f"{at}: {value!r} is not one of {sorted(kind.of)}")
        elif kind.form == "expandable":
            if isinstance(value, str):
                if expanded is not None:
                    self.problems.append(f"{at}: asked to expand, sent an id")
            elif expanded is None:
                self.problems.append(f"{at}: expanded without being asked")
            else:
                self._object(value, kind.of, expanded, at)
        elif kind.form == "list_object":
            self._list(value, kind.of, expanded or {}, at)
        elif kind.form == "array":
            if not isinstance(value, list):
                self.problems.append(f"{at}: {type(value).__name__} where a list is defined")
                return
            inner = kind_of(kind.of)
            for n, item in enumerate(value):
                self._value(item, inner, expanded, f"{at}[{n}]")
        elif kind.form == "object":
            self._object(value, kind.of, expanded or {}, at)
        elif kind.form == "free":
            if not isinstance(value, dict):
                self.problems.append(f"{at}: {type(value).__name__} where a hash is defined")
        else:
            allowed = tuple(t for group in kind.of for t in group)
            ok = isinstance(value, allowed) and not (
                isinstance(value, bool) and bool not in allowed
            )
            if not ok:
                self.problems.append(f"{at}: {value!r} is not {allowed}")

    def _list(self, value: Any, item_cls: Any, expanded: Expanded, at: str) -> None:
        if not isinstance(value, dict) or value.get("object") not in ("list", "search_result"):
            self.problems.append(f"{at}: not a list object")
            return
        extra = set(value) - {"object", "data", "has_more", "url", "next_page", "total_count"}
        if extra:
            self.problems.append(f"{at}: unexpected list keys {sorted(extra)}")
        inner = expanded.get("data", {})
        for n, item in enumerate(value.get("data", [])):
            cls = item_cls if _is_object_class(item_cls) else None
            if cls is None:
                cls = resource_class(str(item.get("object")))
            self._object(item, cls, inner, f"{at}.data[{n}]")


#: Includable fields that are plain arrays, not list objects. Neither SDK marks them (the
#: types say only "sent sometimes"); Stripe's API reference says of each "This field is not
#: included by default. To include it in the response, expand the … field."
INCLUDABLE_ARRAYS = frozenset(
    {
        ("stripe._line_item", "LineItem", "taxes"),
        ("stripe._line_item", "LineItem", "discounts"),
        ("stripe.checkout._session", "Session.ShippingCost", "taxes"),
    }
)


def includable(cls: type, key: str) -> bool:
    """Whether ``cls.key`` is includable: sent only when an ``expand`` names it. A list
    object Stripe sends only sometimes is (``line_items``, ``charge.refunds``,
    ``invoice.payments``), and so are the few plain arrays in :data:`INCLUDABLE_ARRAYS`."""
    if (cls.__module__, cls.__qualname__, key) in INCLUDABLE_ARRAYS:
        return True
    how = (how_sent(cls) or {}).get(key)
    annotation = fields_of(cls).get(key)
    return (
        how is not None
        and not how.always
        and annotation is not None
        and kind_of(annotation).form == "list_object"
    )


def sdk_api_version() -> str:
    """The API version stripe-python pins."""
    return str(stripe.api_version)


def dump(obj: Any) -> Json:
    """A JSON answer as plain data."""
    loaded: Json = json.loads(json.dumps(obj))
    return loaded
