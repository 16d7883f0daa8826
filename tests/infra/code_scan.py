"""What the pipeline's own code asks of its environment, read from the source: the environment variables each
Lambda handler reads, and the files that make up each component (a handler plus the covid_pipeline modules it
imports). The Terraform tests hold the planned and applied configuration against these."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from covid_pipeline.config import REPO_ROOT

# Function short name -> handler module in lambda/.
HANDLERS = {
    "s3-event-handler": "s3_event_handler",
    "data-quality-monitor": "data_quality_monitor",
    "warehouse-loader": "warehouse_loader",
    "ingestion": "ingestion",
}
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
# What Powertools' Logger reads by itself: its level (the handlers pass it the service name from the environment).
POWERTOOLS_LOGGER_READS = {"LOG_LEVEL"}
IMPORT = re.compile(r"from (covid_pipeline[\w.]*) import")


def _module_files(module: str) -> list[Path]:
    base = REPO_ROOT / "src" / Path(*module.split("."))
    return [candidate for candidate in (base.with_suffix(".py"), base / "__init__.py") if candidate.is_file()]


def direct_imports(entry: Path) -> list[Path]:
    """``entry`` and the covid_pipeline modules it imports itself."""
    found = [entry]
    for module in IMPORT.findall(entry.read_text()):
        found += [path for path in _module_files(module) if path not in found]
    return found


def imported_modules(entry: Path) -> list[Path]:
    """``entry`` and every covid_pipeline module it imports, directly or through others (lazy imports included)."""
    seen: list[Path] = []
    pending = [entry]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.append(path)
        for module in IMPORT.findall(path.read_text()):
            pending += _module_files(module)
    return seen


def handler_file(short: str) -> Path:
    return REPO_ROOT / "lambda" / f"{HANDLERS[short]}.py"


def _is_environment(node: ast.AST) -> bool:
    """``env``, ``environ`` or ``os.environ``: what the handlers read settings from."""
    if isinstance(node, ast.Name):
        return node.id in {"env", "environ"}
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
        return node.value
    return None


def _first_argument_read(call: ast.Call) -> bool:
    """``env.get("X")``, ``os.environ.get("X")`` or ``os.getenv("X")``."""
    function = call.func
    if not isinstance(function, ast.Attribute) or not call.args:
        return False
    return (function.attr == "get" and _is_environment(function.value)) or function.attr == "getenv"


def environment_reads(source: str) -> set[str]:
    """Names read from the environment: env["X"], env.get("X", ...), os.environ..., os.getenv("X"), and a helper
    handed the environment and a name (``_csv_setting(env, "X")``)."""
    names: set[str | None] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and _is_environment(node.value):
            names.add(_literal(node.slice))
        elif isinstance(node, ast.Call) and _first_argument_read(node):
            names.add(_literal(node.args[0]))
        elif isinstance(node, ast.Call) and any(_is_environment(argument) for argument in node.args):
            names.update(_literal(argument) for argument in node.args)
    return {name for name in names if name}


def handler_reads(short: str) -> set[str]:
    """Every environment variable a function's handler, or a covid_pipeline module it imports, reads."""
    reads = set().union(*(environment_reads(path.read_text()) for path in direct_imports(handler_file(short))))
    if "from aws_lambda_powertools import Logger" in handler_file(short).read_text():
        reads |= POWERTOOLS_LOGGER_READS
    return reads
