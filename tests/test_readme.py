"""The README's two commands stay the ones the project runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Quick start\n", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert block, "no code block under '## Quick start'"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_holds_exactly_the_demo_then_the_test_command():
    assert quick_start_commands() == ["./scripts/demo", "./scripts/test"]
    for command in quick_start_commands():
        assert os.access(ROOT / command, os.X_OK), f"{command} is not executable"


def test_ci_runs_the_readme_test_command_and_nothing_else():
    lines = [
        ln for ln in (ROOT / ".ci/run").read_text().splitlines()
        if ln.strip() and not ln.startswith("#") and not ln.startswith(("set ", "cd "))
    ]  # fmt: skip
    assert lines == [f"exec {quick_start_commands()[1]}"]
