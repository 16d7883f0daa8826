"""CloudWatch metric math, the part the pipeline's alarms use, for the local alarm evaluator.

An alarm's ``Metrics`` are metric queries (a ``MetricStat``: one metric's statistic per period) and expressions over
them by id. A time series here is one value per evaluation period, oldest first, ``None`` where there is no
datapoint. Supported, with CloudWatch's documented meaning:

- arithmetic ``+ - * /`` between series and numbers, period by period (a missing operand gives a missing result);
- ``METRICS()`` (every MetricStat query's series), list literals ``[a, b]``;
- ``SUM``, ``MAX``, ``MIN``, ``AVG`` of a list of series: one series, period by period, over the series that have
  a value in that period;
- ``FILL(series, value)``: a missing period takes ``value``.

Anything else is an ``UnsupportedExpression`` naming what, so the evaluator can say why an alarm is not evaluated.
Pure: no I/O.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence

Series = list[float | None]
Value = Series | float | list[Series]


_IDENTIFIER = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
_ID_PREFIX = "query__"


class UnsupportedExpression(ValueError):
    """An expression this evaluator does not implement."""


_OPERATORS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _combine(values: Sequence[float | None], how: str) -> float | None:
    present = [value for value in values if value is not None]
    if not present:
        return None
    if how == "SUM":
        return float(sum(present))
    if how == "MAX":
        return max(present)
    if how == "MIN":
        return min(present)
    return sum(present) / len(present)


def _as_series(value: Value, periods: int) -> Series:
    if isinstance(value, (int, float)):
        return [float(value)] * periods
    if value and isinstance(value[0], list):
        raise UnsupportedExpression("a list of series where one series is expected")
    return list(value)  # type: ignore[arg-type]


def _as_list(value: Value, periods: int) -> list[Series]:
    if isinstance(value, list) and value and isinstance(value[0], list):
        return value  # type: ignore[return-value]
    return [_as_series(value, periods)]


def evaluate(expression: str, series: Mapping[str, Series], metric_ids: Sequence[str], periods: int) -> Series:
    """The series ``expression`` gives, from the named ``series`` (``metric_ids``: what METRICS() returns)."""
    # Query ids may be Python keywords ("async"): they become plain names before Python's parser reads them.
    source = _IDENTIFIER.sub(lambda m: f"{_ID_PREFIX}{m.group(1)}" if m.group(1) in series else m.group(1), expression)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsupportedExpression(f"cannot parse {expression!r}: {exc.msg}") from None

    def visit(node: ast.AST) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if not node.id.startswith(_ID_PREFIX):
                raise UnsupportedExpression(f"unknown id {node.id!r}")
            return series[node.id.removeprefix(_ID_PREFIX)]
        if isinstance(node, ast.List):
            return [_as_series(visit(element), periods) for element in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = _as_series(visit(node.operand), periods)
            return [None if value is None else -value for value in operand]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            apply = _OPERATORS[type(node.op)]
            left, right = _as_series(visit(node.left), periods), _as_series(visit(node.right), periods)
            result: Series = []
            for a, b in zip(left, right, strict=True):
                if a is None or b is None or (isinstance(node.op, ast.Div) and b == 0):
                    result.append(None)
                else:
                    result.append(apply(a, b))
            return result
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id.upper()
            if name == "METRICS" and not node.args:
                return [list(series[metric_id]) for metric_id in metric_ids]
            if name in {"SUM", "MAX", "MIN", "AVG"} and len(node.args) == 1:
                members = _as_list(visit(node.args[0]), periods)
                return [_combine([member[i] for member in members], name) for i in range(periods)]
            if name == "FILL" and len(node.args) == 2:
                target, filler = _as_series(visit(node.args[0]), periods), visit(node.args[1])
                if not isinstance(filler, float):
                    raise UnsupportedExpression("FILL with anything but a number")
                filled: Series = [filler if value is None else value for value in target]
                return filled
            raise UnsupportedExpression(f"function {name} with {len(node.args)} argument(s)")
        raise UnsupportedExpression(f"{type(node).__name__} in {expression!r}")

    return _as_series(visit(tree.body), periods)
