"""The data-quality gate: Great Expectations 1.x expectations on the output DataFrame, each `warn` or `fail`.

A `fail` that does not hold stops the job before it publishes; warnings are
recorded in the manifest.

Great Expectations decides; Spark computes what it decides on in one pass.
Validating the DataFrame itself made GE start a Spark job per metric (seven,
the compound-key uniqueness a window over every row: a shuffle and a sort).
Here each expectation names the metrics it needs (its validation
dependencies: row count, null counts, out-of-range counts, rows sharing a
compound key, a column's max), `metric_pass` turns each into a Spark
aggregate, and each row first counts the rows sharing its compound key (a
window over the key). `aggregate` computes all of them in one job; `observe`
computes them while another action runs (the job's write of its output to a
staging folder, so the gate costs no pass of its own). Each expectation's own
`metrics_validate`, the step GE's validator ends with, turns them into its
result: the same verdicts, `mostly` thresholds and result fields as a
validation of the DataFrame (tests/component/test_job_data_quality.py compares the
two on frames that break every check). Great Expectations takes seconds to
import, so the entry script starts `preload()` in a thread at start-up.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pyspark import SparkContext, cloudpickle
from pyspark.sql import DataFrame, Observation
from utils import sql_text as sql

FAIL = "fail"
WARN = "warn"

_import_lock = threading.Lock()


class DataQualityError(RuntimeError):
    """A `fail` expectation did not hold: nothing may be published."""

    def __init__(self, report: DataQualityReport) -> None:
        failed = ", ".join(r["expectation"] for r in report.results if r["severity"] == FAIL and not r["success"])
        super().__init__(f"data quality gate failed: {failed}")
        self.report = report


@dataclass
class DataQualityReport:
    score: float
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r["severity"] == FAIL and not r["success"] for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "results": self.results}


@dataclass(frozen=True)
class Check:
    """One expectation with its severity; `name` is what the manifest calls it."""

    name: str
    severity: str
    expectation_type: str
    kwargs: dict[str, Any]


def preload() -> None:
    """Import Great Expectations (slow) ahead of time; safe to call from a thread."""
    with _import_lock:
        finder = None
        if "great_expectations" not in sys.modules:
            finder = _FirstUseLoader(LOADED_ON_FIRST_USE)
            sys.meta_path.insert(0, finder)  # never removed: another thread may be walking the list
        try:
            import great_expectations  # noqa: F401
        finally:
            if finder is not None:
                finder.active = False


# Great Expectations imports these at start-up for expectations the gate never uses (distribution tests, charts):
# about a third of its import time, in every fresh job process. Imported while it imports, each module runs its
# code when first used instead (importlib.util.LazyLoader).
LOADED_ON_FIRST_USE = frozenset({"scipy.stats", "altair"})


class _FirstUseLoader(importlib.abc.MetaPathFinder):
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.active = True

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self.active or name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def build_checks(
    source: str,
    expected_latest_date: date | None = None,
    deaths_above_confirmed_tolerance: float = 0.001,
) -> list[Check]:
    """The gate: completeness, validity, uniqueness, consistency (tolerant), freshness, volume."""
    checks = [
        Check("volume: at least one row", FAIL, "ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check("completeness: report_date", FAIL, "ExpectColumnValuesToNotBeNull", {"column": "report_date"}),
        Check("completeness: country", FAIL, "ExpectColumnValuesToNotBeNull", {"column": "country"}),
        Check(
            "uniqueness: report_date+country+province+admin2",
            FAIL,
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": ["report_date", "country", "province", "admin2"], "ignore_row_if": "never"},
        ),
        Check(
            "validity: confirmed >= 0", FAIL, "ExpectColumnValuesToBeBetween", {"column": "confirmed", "min_value": 0}
        ),
        Check("validity: deaths >= 0", FAIL, "ExpectColumnValuesToBeBetween", {"column": "deaths", "min_value": 0}),
        Check(
            "validity: latitude",
            FAIL,
            "ExpectColumnValuesToBeBetween",
            {"column": "latitude", "min_value": -90, "max_value": 90},
        ),
        Check(
            "validity: longitude",
            FAIL,
            "ExpectColumnValuesToBeBetween",
            {"column": "longitude", "min_value": -180, "max_value": 180},
        ),
        Check(
            "consistency: deaths <= confirmed",
            WARN,
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {
                "column_A": "confirmed",
                "column_B": "deaths",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
                "mostly": 1.0 - deaths_above_confirmed_tolerance,
            },
        ),
        Check(
            "completeness: iso3 (enrichment)",
            WARN,
            "ExpectColumnValuesToNotBeNull",
            {"column": "iso3", "mostly": 0.95},
        ),
    ]
    if expected_latest_date is not None:
        # Freshness: the newest input must actually reach the output (a file whose rows all vanished warns).
        checks.append(
            Check(
                "freshness: newest report_date",
                WARN,
                "ExpectColumnMaxToBeBetween",
                {
                    "column": "report_date",
                    "min_value": (expected_latest_date - timedelta(days=1)).isoformat(),
                    "parse_strings_as_datetimes": False,
                },
            )
        )
    return checks


# BASIC gives each result its counts (element, unexpected, missing) or observed value; no unexpected values are
# listed (partial_unexpected_count 0), so none have to be fetched from the data.
RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
# What a result keeps in the manifest (GE's other fields are empty lists here, or repeat these).
OBSERVED = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")


class UnsupportedCheck(ValueError):
    """A check needs a metric the one-pass aggregation does not compute (say which, rather than guess)."""


# Per row: how many rows share its compound key (the window `with_key_rows` adds when the pass has a key).
KEY_ROWS = "_key_rows"


@dataclass(frozen=True)
class Metric:
    """One metric: `rows`, a Spark aggregate over the rows of one group of `aggregate`'s `by` (SQL text: the
    pass's aggregates cross to the JVM in one piece each, see utils.sql_text); `fold` over the groups it
    returns (on the driver)."""

    rows: str
    fold: Callable[[Iterable[Any]], Any]


def _sum(values: Iterable[Any]) -> int:
    return sum(int(v) for v in values if v is not None)


def _max(values: Iterable[Any]) -> Any:
    return max((v for v in values if v is not None), default=None)


def _min(values: Iterable[Any]) -> Any:
    return min((v for v in values if v is not None), default=None)


def _counted(condition: str) -> Metric:
    """Rows where condition holds (null: not counted)."""
    return Metric(f"count_if({condition})", _sum)


def _in_range(column: str, value_kwargs: dict[str, Any]) -> str:
    """GE's between: min/max inclusive unless strict, either bound optional."""
    low, high = value_kwargs.get("min_value"), value_kwargs.get("max_value")
    if low is None and high is None:
        raise UnsupportedCheck("a between check needs min_value or max_value")
    conditions = []
    if low is not None:
        conditions.append(f"{column} {'>' if value_kwargs.get('strict_min') else '>='} {sql.literal(low)}")
    if high is not None:
        conditions.append(f"{column} {'<' if value_kwargs.get('strict_max') else '<='} {sql.literal(high)}")
    return sql.all_of(conditions)


def _metric(name: str, domain: dict[str, Any], values: dict[str, Any], key: tuple[str, ...]) -> Metric:
    """The Spark aggregates of one metric Great Expectations asks for, with its semantics on Spark
    (great_expectations/expectations/metrics): ranges and set membership are judged among non-null values, the
    compound-key metric counts every row whose key occurs more than once (nulls in a key count as equal)."""
    if domain.get("row_condition"):
        raise UnsupportedCheck(f"{name}: row_condition is not supported by the one-pass gate")
    column = sql.ident(domain["column"]) if "column" in domain else None
    if name == "table.row_count":
        return Metric("count(1)", _sum)
    if name == "column_values.nonnull.unexpected_count" and column is not None:
        return _counted(f"{column} IS NULL")
    if name == "column_values.between.unexpected_count" and column is not None:
        return _counted(f"{column} IS NOT NULL AND NOT ({_in_range(column, values)})")
    if name == "column_values.in_set.unexpected_count" and column is not None:
        return _counted(f"{column} IS NOT NULL AND NOT {sql.is_in(column, list(values['value_set']))}")
    if name == "column.max" and column is not None:
        return Metric(f"max({column})", _max)
    if name == "column.min" and column is not None:
        return Metric(f"min({column})", _min)
    if name.startswith("column_pair_values.a_greater_than_b."):
        if domain.get("ignore_row_if") != "either_value_is_missing":
            raise UnsupportedCheck(f"{name}: only ignore_row_if='either_value_is_missing' is supported")
        a, b = sql.ident(domain["column_A"]), sql.ident(domain["column_B"])
        both = f"{a} IS NOT NULL AND {b} IS NOT NULL"
        if name.endswith(".filtered_row_count"):
            return _counted(both)
        if name.endswith(".unexpected_count"):
            return _counted(f"{both} AND NOT ({a} {'>=' if values.get('or_equal') else '>'} {b})")
    if name.startswith("compound_columns.unique."):
        if domain.get("ignore_row_if", "never") != "never" or tuple(domain["column_list"]) != key:
            raise UnsupportedCheck(f"{name}: only ignore_row_if='never' over the pass's key {list(key)}")
        if name.endswith(".filtered_row_count"):
            return Metric("count(1)", _sum)
        if name.endswith(".unexpected_count"):  # every row of a key seen more than once
            return _counted(f"{KEY_ROWS} > 1")
    raise UnsupportedCheck(f"metric {name} ({domain}) is not computed by the one-pass gate")


@dataclass
class MetricPass:
    """What one pass over the data computes for a set of checks, and the expectations that judge it."""

    checks: list[Check]
    expectations: list[Any]  # great_expectations Expectation objects, in the order of checks
    key: tuple[str, ...]  # the compound key of the uniqueness check (empty: none)
    metrics: dict[Any, Metric]  # by GE's MetricConfigurationID
    given: dict[Any, Any]  # metrics known without the data (lists of unexpected values, asked for none)

    def column(self, metric_id: Any) -> str:
        return f"_m{list(self.metrics).index(metric_id)}"

    def values(self, rows: Sequence[dict[str, Any]]) -> dict[Any, Any]:
        """GE's metrics from the rows `aggregate` returned (one per group of its `by` columns)."""
        found = {mid: metric.fold(row[self.column(mid)] for row in rows) for mid, metric in self.metrics.items()}
        return {**found, **self.given}


def _expectation(check: Check) -> Any:
    import great_expectations as gx

    kwargs = {k: v for k, v in check.kwargs.items() if k != "parse_strings_as_datetimes"}
    if check.expectation_type == "ExpectColumnMaxToBeBetween":
        kwargs["min_value"] = date.fromisoformat(kwargs["min_value"])
    return getattr(gx.expectations, check.expectation_type)(**kwargs, meta={"check": check.name})


def metric_pass(checks: list[Check]) -> MetricPass:
    """The metrics the checks' expectations depend on, each as Spark aggregates; raises UnsupportedCheck for one
    the pass cannot compute (or two uniqueness checks over different keys: one pass groups by one key)."""
    preload()
    expectations = [_expectation(check) for check in checks]
    keys = {tuple(c.kwargs["column_list"]) for c in checks if c.expectation_type == "ExpectCompoundColumnsToBeUnique"}
    if len(keys) > 1:
        raise UnsupportedCheck(f"one pass groups by one compound key, the checks name {sorted(keys)}")
    key = next(iter(keys), ())
    metrics: dict[Any, Metric] = {}
    given: dict[Any, Any] = {}
    for expectation in expectations:
        dependencies = expectation.get_validation_dependencies(runtime_configuration={"result_format": RESULT_FORMAT})
        for config in dependencies.get_metric_configurations():
            if config.id in metrics or config.id in given:
                continue
            if config.metric_name.endswith(".unexpected_values"):
                given[config.id] = []
            else:
                domain, values = dict(config.metric_domain_kwargs), dict(config.metric_value_kwargs)
                metrics[config.id] = _metric(config.metric_name, domain, values, key)
    return MetricPass(list(checks), expectations, key, metrics, given)


def _aggregates(gate: MetricPass, sums: dict[str, str]) -> list[str]:
    """The pass's aggregates (SQL), each named as `values` reads it, then `sums`, each summed under its name."""
    aggregates = [sql.alias(metric.rows, gate.column(mid)) for mid, metric in gate.metrics.items()]
    return aggregates + [sql.alias(f"sum({value})", name) for name, value in sums.items()]


def aggregate(
    df: DataFrame, gate: MetricPass, by: Sequence[str] = (), sums: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every metric of the pass, per group of `by`, in one Spark job; `sums` are further per-row values (SQL)
    summed per group. With a compound key, each row first counts the rows sharing its key (`with_key_rows`)."""
    if gate.key:
        df = with_key_rows(df, gate.key)
    aggregates = [sql.column(a) for a in _aggregates(gate, sums or {})]
    return [row.asDict() for row in df.groupBy(*by).agg(*aggregates).collect()]


def observe(df: DataFrame, gate: MetricPass, sums: dict[str, str] | None = None) -> tuple[DataFrame, Observation]:
    """df with every metric of the pass (and `sums`, as in `aggregate`) observed while an action computes it: the
    metrics ride along with the job's write of the output instead of a Spark job of their own over a cached copy.
    df must already carry KEY_ROWS when the pass has a key (`with_key_rows`, before any repartition that breaks
    the clustering it streams over). Read the result with `observed`, after the action succeeded.

    Observe after the last shuffle before the action: Spark 3.5 reports no metrics for an observation below a
    shuffle whose output turned out empty (its adaptive planning drops the stage from the final plan)."""
    observation = Observation("data_quality")
    aggregates = [sql.column(a) for a in _aggregates(gate, sums or {})]
    return df.observe(observation, *aggregates), observation


def observed(gate: MetricPass, observation: Observation, sums: Iterable[str] = ()) -> dict[str, Any]:
    """The row of metrics an action computed for `observe` (one group: `gate.values([it])`), its values converted
    as a collected row's are (PySpark 3.5's `Observation.get` hands a date back as a Java object, which no
    expectation can compare; its streaming listener converts observed rows this way). Raises if Spark reported
    none of them, rather than let the gate judge an empty row."""
    jvm, java_observation = SparkContext._jvm, observation._jo
    if jvm is None or java_observation is None:
        raise RuntimeError("observed() needs an Observation that DataFrame.observe was called with")
    java_row = java_observation.getRow()  # waits for the action's end
    # A row with no schema: Spark dropped the observation from the plan it ran.
    found: dict[str, Any] = {}
    if java_row.schema() is not None:
        found = cloudpickle.loads(jvm.PythonSQLUtils.toPyRow(java_row)).asDict()
    missing = [name for name in (*(gate.column(mid) for mid in gate.metrics), *sums) if name not in found]
    if missing:
        raise RuntimeError(f"Spark reported no data-quality metrics for the output ({len(missing)} missing)")
    return found


def with_key_rows(df: DataFrame, key: Sequence[str], clustered_by: Sequence[str] = ()) -> DataFrame:
    """df with KEY_ROWS: how many rows share each row's key (nulls in a key count as equal, as GE counts them).

    A window over the key, whose columns are taken in the order of `clustered_by` (the columns df is partitioned
    and sorted by, first). On a frame partitioned by part of the key and sorted by the key in that order (the
    job's output is: by location, then date, for its windows), the window streams over the rows as they are,
    with no shuffle and no sort; grouping by the key instead hashed every row into a group of its own (1.7
    million of them)."""
    order = list(clustered_by)
    ordered = sorted(key, key=lambda c: order.index(c) if c in order else len(order))  # stable: the rest keep theirs
    window = f"PARTITION BY {', '.join(sql.ident(c) for c in ordered)}"
    return df.selectExpr("*", sql.alias(f"count(1) OVER ({window})", KEY_ROWS))


def evaluate(gate: MetricPass, metrics: dict[Any, Any]) -> DataQualityReport:
    """Each expectation's verdict on the metrics (GE's own evaluation); an expectation that raises fails, with the
    error in its result, as GE's validator reports it. Never raises on a failed expectation."""
    results: list[dict[str, Any]] = []
    for check, expectation in zip(gate.checks, gate.expectations, strict=True):
        entry: dict[str, Any] = {
            "expectation": check.name,
            "expectation_type": expectation.expectation_type,
            "severity": check.severity,
        }
        try:
            outcome = expectation.metrics_validate(metrics, runtime_configuration={"result_format": RESULT_FORMAT})
        except Exception as error:  # reported in the manifest, as GE's validator reports it
            results.append({**entry, "success": False, "error": f"{type(error).__name__}: {error}"})
            continue
        observed = dict(outcome.result or {})
        results.append(
            {
                **entry,
                "success": bool(outcome.success),
                **{k: observed[k] for k in OBSERVED if observed.get(k) is not None},
            }
        )
    score = round(sum(r["success"] for r in results) / len(results), 4) if results else 1.0
    return DataQualityReport(score=score, results=results)


def run_checks(df: DataFrame, checks: list[Check]) -> DataQualityReport:
    """Validate df against the checks: one Spark job, then Great Expectations' verdicts. Never raises on a failed
    expectation."""
    gate = metric_pass(checks)
    return evaluate(gate, gate.values(aggregate(df, gate)))
