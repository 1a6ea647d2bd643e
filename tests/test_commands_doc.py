"""docs/commands.md is what docs/gen_commands.py writes from the commands' ``--help``: a
command added or changed without regenerating it fails here (as ``cog --check`` would)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.helpers import gen_commands

REFERENCE = ROOT / "docs" / "commands.md"


def test_the_command_reference_is_up_to_date() -> None:
    script = gen_commands()
    want = script.render()
    got = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert got == want, (
        "docs/commands.md differs from the commands' --help: "
        "run `.venv/bin/python docs/gen_commands.py` and commit the result"
    )


def test_the_reference_has_every_command_and_subcommand() -> None:
    script = gen_commands()
    titles = script.paths_of(script.render())
    paths = script.command_paths()
    assert titles == ["locality", *(" ".join(("locality", *path)) for path in paths)]
    # Subcommands of every group are in, not only the top level.
    assert {"locality fetch find-a-tender", "locality suppliers add-facts"} <= set(titles)
    assert any(len(path) > 1 for path in paths)


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    script = gen_commands()
    monkeypatch.setenv("COLUMNS", "200")
    wide = script.render()
    monkeypatch.setenv("COLUMNS", "40")
    assert script.render() == wide
