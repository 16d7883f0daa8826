"""The CLI's command registry: every command group imports, and one that does not is an error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from covid_pipeline.cli import CommandModuleError, build_parser


def test_every_command_group_registers_its_commands() -> None:
    parser = build_parser()
    assert parser.parse_args(["runs"]).command == "runs"
    assert parser.parse_args(["local", "up"]).command == "local"


def test_a_command_module_that_is_missing_is_an_error_naming_it() -> None:
    with pytest.raises(CommandModuleError, match=r"covid_pipeline\.commands\.no_such_group failed to import"):
        build_parser(("covid_pipeline.commands.ops", "covid_pipeline.commands.no_such_group"))


def test_a_command_module_that_fails_inside_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_commands.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CommandModuleError, match="broken_commands failed to import: ModuleNotFoundError") as raised:
        build_parser(("broken_commands",))
    assert isinstance(raised.value.__cause__, ModuleNotFoundError)
