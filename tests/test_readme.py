"""The README's opening commands and Python examples are real."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_opens_with_what_it_is_then_the_two_commands() -> None:
    text = README.read_text()
    head, _, rest = text.partition("```sh\n")
    # One paragraph saying what wexbook is and for whom comes first.
    paragraphs = [p for p in head.split("\n\n") if p.strip() and not p.startswith("#")]
    assert len(paragraphs) == 1 and "for people who" in paragraphs[0], head
    commands = rest.split("```", 1)[0].strip().splitlines()
    assert commands == [
        "pip install -e . && wexbook demo",
        "pip install -e '.[dev]' && python -m pytest",
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci
    after = rest.split("```", 1)[1].lstrip()
    assert after.startswith("Requires Python >= 3.11.")
    pyproject = (README.parent / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11"' in pyproject


def test_readme_shows_the_jobs_and_how_to_watch_the_simulator() -> None:
    text = README.read_text()
    jobs = text.split("## Three jobs", 1)[1].split("\n## ", 1)[0]
    assert "ThreadedBookManager(" in jobs and "BookManager(" in jobs
    assert "manager.on_event" in jobs and "manager.stats()" in jobs
    assert "wexbook watch --sim ws://" in text


def test_readme_python_examples_run(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert "resyncing" in capsys.readouterr().out
