"""The facts written once in covid_pipeline.common, and the import graph that module exists to keep acyclic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from covid_pipeline.common import (
    ACTIVE_STATES,
    ALL_RUN_STATES,
    FAILED_STATES,
    TERMINAL_STATES,
    split_s3_object_url,
    split_s3_uri,
)

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "covid_pipeline"


def test_run_states_are_glues_documented_states() -> None:
    assert {
        "STARTING", "RUNNING", "STOPPING", "STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "WAITING", "EXPIRED",
    } == ALL_RUN_STATES  # fmt: skip
    assert {"STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "EXPIRED"} == TERMINAL_STATES
    assert {"STOPPED", "FAILED", "TIMEOUT", "ERROR", "EXPIRED"} == FAILED_STATES
    assert {"STARTING", "RUNNING", "STOPPING", "WAITING"} == ACTIVE_STATES


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b.csv", ("bucket", "a/b.csv")),
        ("s3://bucket/prefix/", ("bucket", "prefix/")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/odd?name#1.csv", ("bucket", "odd?name#1.csv")),
    ],
)
def test_split_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert split_s3_uri(uri) == expected


def test_split_s3_uri_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="not an s3:// URI"):
        split_s3_uri("/local/path")


def test_split_s3_object_url_accepts_s3a_and_needs_a_key() -> None:
    assert split_s3_object_url("s3a://bucket/glue/script.py") == ("bucket", "glue/script.py")
    with pytest.raises(ValueError, match="needs a bucket and a key"):
        split_s3_object_url("s3://bucket/")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, function-level and TYPE_CHECKING imports included."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                # `from package import submodule` depends on the submodule, `from module import name` on the module.
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
        graph[module] = set()
        for target in targets:
            while target and target not in paths:
                target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].add(target)
    return graph


def test_no_import_cycle_in_the_package() -> None:
    graph = _import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_common_is_a_leaf() -> None:
    assert not _import_graph()["covid_pipeline.common"]
