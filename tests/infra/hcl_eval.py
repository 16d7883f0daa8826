"""A tiny evaluator for the HCL expressions terraform/ uses in names, paths and validation conditions.

No Terraform binary or AWS provider can run here, so the infrastructure tests evaluate what they need themselves:
the locals that derive resource names (parity with covid_pipeline.config) and the `validation` conditions of
variables (every config/<env>.tfvars must pass them). Supported: string templates with interpolation, numbers,
bools, null, lists, objects, `var.x` / `local.x` references with `.attr` and `[key]` access, arithmetic, comparison
and logical operators, the conditional operator, `[for ...]` / `{for ...}` expressions and the functions in
FUNCTIONS. Anything else (e.g. `data.*`, `path.module`) raises Unsupported, so a test never silently compares
the wrong value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import hcl2


class Unsupported(ValueError):
    """An expression form (or reference) this evaluator does not handle."""


class HclFunctionError(ValueError):
    """A Terraform function call that would fail (e.g. regex without a match): `can()` turns it into false."""


# --- python-hcl2 output helpers ------------------------------------------------------------------------------------


def unquote(text: str) -> str:
    """python-hcl2 keeps the quotes of block labels and map keys: '"name"' -> 'name'."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(hcl2.load(handle))


def load_tfvars(path: Path) -> dict[str, Any]:
    """A tfvars file as plain Python values (strings unquoted, like covid_pipeline.config.read_tfvars)."""
    raw = load_hcl(path)
    return {key: evaluate_value(value, Scope()) for key, value in raw.items() if not key.startswith("__")}


# --- tokenizer -------------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(\.\d+)?([eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>=>|==|!=|<=|>=|&&|\|\||\.\.\.|[-+*/%<>!?:()\[\]{}.,=])
    """,
    re.VERBOSE,
)


@dataclass
class Token:
    kind: str  # number, ident, op, string, end
    value: Any


def _read_string(text: str, start: int) -> tuple[list[Any], int]:
    """Reads a quoted template starting after the opening quote: returns (parts, index after the closing quote).

    Parts are plain strings or ("expr", source) tuples for `${...}` interpolations.
    """
    parts: list[Any] = []
    buffer: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == '"':
            if buffer:
                parts.append("".join(buffer))
            return parts, i + 1
        if char == "\\":
            escaped = text[i + 1]
            buffer.append({"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}.get(escaped, "\\" + escaped))
            i += 2
            continue
        if text.startswith("$${", i):
            buffer.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            if buffer:
                parts.append("".join(buffer))
                buffer = []
            end = _matching_brace(text, i + 1)
            parts.append(("expr", text[i + 2 : end]))
            i = end + 1
            continue
        if text.startswith("%{", i):
            raise Unsupported("template directives (%{...}) are not supported")
        buffer.append(char)
        i += 1
    raise Unsupported(f"unterminated string in {text!r}")


def _matching_brace(text: str, open_index: int) -> int:
    """Index of the '}' closing the '{' at open_index, skipping nested braces and strings."""
    depth = 0
    i = open_index
    while i < len(text):
        char = text[i]
        if char == '"':
            _, i = _read_string(text, i + 1)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise Unsupported(f"unbalanced braces in {text!r}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            parts, i = _read_string(text, i + 1)
            tokens.append(Token("string", parts))
            continue
        match = _TOKEN_RE.match(text, i)
        if not match:
            raise Unsupported(f"cannot tokenize {text[i:]!r}")
        i = match.end()
        kind = match.lastgroup
        if kind == "ws":
            continue
        assert kind is not None
        value: Any = match.group()
        if kind == "number":
            value = float(value) if any(c in value for c in ".eE") else int(value)
        tokens.append(Token(kind, value))
    tokens.append(Token("end", None))
    return tokens


# --- evaluation -----------------------------------------------------------------------------------------------------


def _regex(pattern: str, text: str) -> Any:
    match = re.search(pattern, text)
    if match is None:
        raise HclFunctionError(f"regex {pattern!r} does not match {text!r}")
    return match.group()


def _can(thunk: Callable[[], Any]) -> bool:
    try:
        thunk()
    except (HclFunctionError, KeyError, IndexError, TypeError):
        return False
    return True


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "replace": lambda text, old, new: text.replace(old, new),
    "lower": lambda text: text.lower(),
    "upper": lambda text: text.upper(),
    "join": lambda sep, items: sep.join(items),
    "contains": lambda items, value: value in items,
    "length": len,
    "regex": _regex,
    "startswith": lambda text, prefix: text.startswith(prefix),
    "endswith": lambda text, suffix: text.endswith(suffix),
    "tostring": lambda value: _to_string(value),
    "values": lambda mapping: [mapping[key] for key in sorted(mapping)],
    "keys": lambda mapping: sorted(mapping),
    "merge": lambda *maps: {key: value for mapping in maps for key, value in mapping.items()},
    "concat": lambda *lists: [item for items in lists for item in items],
    "alltrue": lambda items: all(items),
    "anytrue": lambda items: any(items),
    "jsonencode": lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True),
    "min": min,
    "max": max,
}


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Scope:
    """What references resolve to: variables, lazily evaluated locals, and for-expression iterators."""

    variables: Mapping[str, Any] = field(default_factory=dict)
    local_sources: Mapping[str, Any] = field(default_factory=dict)
    iterators: dict[str, Any] = field(default_factory=dict)
    _local_values: dict[str, Any] = field(default_factory=dict)
    _evaluating: set[str] = field(default_factory=set)

    def local(self, name: str) -> Any:
        if name not in self._local_values:
            if name not in self.local_sources:
                raise Unsupported(f"local.{name} is not declared")
            if name in self._evaluating:
                raise Unsupported(f"local.{name} refers to itself")
            self._evaluating.add(name)
            try:
                self._local_values[name] = evaluate_value(self.local_sources[name], self.with_iterators({}))
            finally:
                self._evaluating.discard(name)
        return self._local_values[name]

    def with_iterators(self, iterators: dict[str, Any]) -> Scope:
        child = Scope(self.variables, self.local_sources, {**self.iterators, **iterators})
        child._local_values = self._local_values
        child._evaluating = self._evaluating
        return child


class _Parser:
    """Pratt parser producing thunks (so `can(...)` and `? :` evaluate lazily)."""

    BINARY: ClassVar[dict[str, int]] = {
        "||": 1,
        "&&": 2,
        "==": 3,
        "!=": 3,
        "<": 4,
        "<=": 4,
        ">": 4,
        ">=": 4,
        "+": 5,
        "-": 5,
        "*": 6,
        "/": 6,
        "%": 6,
    }

    def __init__(self, text: str, scope: Scope) -> None:
        self.tokens = tokenize(text)
        self.position = 0
        self.scope = scope
        self.text = text

    def peek(self) -> Token:
        return self.tokens[self.position]

    def take(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token.value != value or token.kind not in ("op", "ident"):
            raise Unsupported(f"expected {value!r} in {self.text!r}, found {token.value!r}")

    def parse(self) -> Callable[[Scope], Any]:
        node = self.expression()
        if self.peek().kind != "end":
            raise Unsupported(f"unexpected {self.peek().value!r} in {self.text!r}")
        return node

    def expression(self) -> Callable[[Scope], Any]:
        condition = self.binary(0)
        if self.peek().kind == "op" and self.peek().value == "?":
            self.take()
            if_true = self.expression()
            self.expect(":")
            if_false = self.expression()
            return lambda s: if_true(s) if condition(s) else if_false(s)
        return condition

    def binary(self, min_precedence: int) -> Callable[[Scope], Any]:
        left = self.unary()
        while True:
            token = self.peek()
            precedence = self.BINARY.get(token.value) if token.kind == "op" else None
            if precedence is None or precedence < min_precedence:
                return left
            self.take()
            right = self.binary(precedence + 1)
            left = self._combine(token.value, left, right)

    @staticmethod
    def _combine(op: str, left: Callable[[Scope], Any], right: Callable[[Scope], Any]) -> Callable[[Scope], Any]:
        operations: dict[str, Callable[[Scope], Any]] = {
            "||": lambda s: bool(left(s)) or bool(right(s)),
            "&&": lambda s: bool(left(s)) and bool(right(s)),
            "==": lambda s: left(s) == right(s),
            "!=": lambda s: left(s) != right(s),
            "<": lambda s: left(s) < right(s),
            "<=": lambda s: left(s) <= right(s),
            ">": lambda s: left(s) > right(s),
            ">=": lambda s: left(s) >= right(s),
            "+": lambda s: left(s) + right(s),
            "-": lambda s: left(s) - right(s),
            "*": lambda s: left(s) * right(s),
            "/": lambda s: left(s) / right(s),
            "%": lambda s: left(s) % right(s),
        }
        return operations[op]

    def unary(self) -> Callable[[Scope], Any]:
        token = self.peek()
        if token.kind == "op" and token.value == "!":
            self.take()
            operand = self.unary()
            return lambda s: not operand(s)
        if token.kind == "op" and token.value == "-":
            self.take()
            operand = self.unary()
            return lambda s: -operand(s)
        return self.postfix(self.primary())

    def postfix(self, node: Callable[[Scope], Any]) -> Callable[[Scope], Any]:
        while True:
            token = self.peek()
            if token.kind == "op" and token.value == ".":
                self.take()
                name = self.take()
                if name.kind == "number":
                    index = name.value
                    node = (lambda inner, i: lambda s: inner(s)[i])(node, index)
                else:
                    node = (lambda inner, attr: lambda s: _attribute(inner(s), attr))(node, name.value)
            elif token.kind == "op" and token.value == "[":
                self.take()
                key = self.expression()
                self.expect("]")
                node = (lambda inner, k: lambda s: inner(s)[k(s)])(node, key)
            else:
                return node

    def primary(self) -> Callable[[Scope], Any]:
        token = self.take()
        if token.kind == "number":
            return lambda s, v=token.value: v
        if token.kind == "string":
            return self._template(token.value)
        if token.kind == "op" and token.value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind == "op" and token.value == "[":
            return self._list_or_for()
        if token.kind == "op" and token.value == "{":
            return self._object_or_for()
        if token.kind == "ident":
            return self._identifier(token.value)
        raise Unsupported(f"unexpected {token.value!r} in {self.text!r}")

    def _template(self, parts: list[Any]) -> Callable[[Scope], Any]:
        pieces: list[Callable[[Scope], Any]] = []
        for part in parts:
            if isinstance(part, tuple):
                pieces.append(_Parser(part[1], self.scope).parse())
            else:
                pieces.append(lambda s, text=part: text)
        if len(pieces) == 1 and isinstance(parts[0], tuple):
            return pieces[0]  # "${x}" keeps x's type, as in Terraform
        return lambda s: "".join(_to_string(piece(s)) for piece in pieces)

    def _identifier(self, name: str) -> Callable[[Scope], Any]:
        if name in ("true", "false"):
            return lambda s: name == "true"
        if name == "null":
            return lambda s: None
        if self.peek().kind == "op" and self.peek().value == "(":
            return self._call(name)
        if name == "var":
            self.expect(".")
            variable = self.take().value
            return lambda s: _lookup(s.variables, variable, "var")
        if name == "local":
            self.expect(".")
            local_name = self.take().value
            return lambda s: s.local(local_name)
        return lambda s: _iterator(s, name)

    def _call(self, name: str) -> Callable[[Scope], Any]:
        self.expect("(")
        arguments: list[Callable[[Scope], Any]] = []
        while not (self.peek().kind == "op" and self.peek().value == ")"):
            arguments.append(self.expression())
            if self.peek().kind == "op" and self.peek().value == ",":
                self.take()
        self.expect(")")
        if name == "can":
            (argument,) = arguments
            return lambda s: _can(lambda: argument(s))
        if name not in FUNCTIONS:
            raise Unsupported(f"function {name}() is not supported")
        function = FUNCTIONS[name]
        return lambda s: function(*(argument(s) for argument in arguments))

    def _for_header(self) -> tuple[list[str], Callable[[Scope], Any]]:
        names = [self.take().value]
        if self.peek().kind == "op" and self.peek().value == ",":
            self.take()
            names.append(self.take().value)
        self.expect("in")
        collection = self.expression()
        self.expect(":")
        return names, collection

    def _list_or_for(self) -> Callable[[Scope], Any]:
        if self.peek().kind == "ident" and self.peek().value == "for":
            self.take()
            names, collection = self._for_header()
            body = self.expression()
            self._reject_if()
            self.expect("]")
            return lambda s: [body(child) for child in _iterations(s, names, collection(s))]
        items: list[Callable[[Scope], Any]] = []
        while not (self.peek().kind == "op" and self.peek().value == "]"):
            items.append(self.expression())
            if self.peek().kind == "op" and self.peek().value == ",":
                self.take()
        self.expect("]")
        return lambda s: [item(s) for item in items]

    def _object_or_for(self) -> Callable[[Scope], Any]:
        if self.peek().kind == "ident" and self.peek().value == "for":
            self.take()
            names, collection = self._for_header()
            key = self.expression()
            self.expect("=>")
            value = self.expression()
            self._reject_if()
            self.expect("}")
            return lambda s: {key(child): value(child) for child in _iterations(s, names, collection(s))}
        entries: list[tuple[Callable[[Scope], Any], Callable[[Scope], Any]]] = []
        while not (self.peek().kind == "op" and self.peek().value == "}"):
            key_token = self.peek()
            if key_token.kind == "ident":  # bare keys are literal names
                self.take()
                key: Callable[[Scope], Any] = lambda s, k=key_token.value: k  # noqa: E731
            else:
                key = self.expression()
            separator = self.take()
            if separator.value not in ("=", ":"):
                raise Unsupported(f"expected '=' in object in {self.text!r}")
            entries.append((key, self.expression()))
            if self.peek().kind == "op" and self.peek().value == ",":
                self.take()
        self.expect("}")
        return lambda s: {k(s): v(s) for k, v in entries}

    def _reject_if(self) -> None:
        if self.peek().kind == "ident" and self.peek().value == "if":
            raise Unsupported("for-expressions with an if clause are not supported")


def _attribute(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value[name]
    raise Unsupported(f"cannot read attribute {name!r} of {value!r}")


def _lookup(mapping: Mapping[str, Any], name: str, kind: str) -> Any:
    if name not in mapping:
        raise Unsupported(f"{kind}.{name} has no value")
    return mapping[name]


def _iterator(scope: Scope, name: str) -> Any:
    if name in scope.iterators:
        return scope.iterators[name]
    raise Unsupported(f"reference {name!r} cannot be resolved offline")


def _iterations(scope: Scope, names: list[str], collection: Any) -> list[Scope]:
    pairs = list(collection.items()) if isinstance(collection, Mapping) else list(enumerate(collection))
    scopes = []
    for key, value in pairs:
        bound = {names[0]: value} if len(names) == 1 else {names[0]: key, names[1]: value}
        scopes.append(scope.with_iterators(bound))
    return scopes


def evaluate_expression(text: str, scope: Scope) -> Any:
    return _Parser(text, scope).parse()(scope)


def _strip_interpolation(text: str) -> str | None:
    """'${expr}' (python-hcl2's form of a bare expression) -> 'expr'; anything else -> None."""
    if text.startswith("${") and _matching_brace(text, 1) == len(text) - 1:
        return text[2:-1]
    return None


def evaluate_value(value: Any, scope: Scope) -> Any:
    """Evaluates one value as python-hcl2 returns it (nested dicts/lists, quoted strings, ${...} expressions)."""
    if isinstance(value, Mapping):
        return {unquote(key): evaluate_value(item, scope) for key, item in value.items() if not key.startswith("__")}
    if isinstance(value, list):
        return [evaluate_value(item, scope) for item in value]
    if isinstance(value, str):
        inner = _strip_interpolation(value)
        return evaluate_expression(inner if inner is not None else value, scope)
    return value
