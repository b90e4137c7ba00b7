"""The README's opening commands and Python examples are real."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block and text.index("```sh") < 40
    commands = first_block.group(1).strip().splitlines()
    assert commands == [
        "pip install -e . && wexbook demo",
        "pip install -e '.[dev]' && python -m pytest",
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_readme_python_examples_run(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert "resyncing" in capsys.readouterr().out
