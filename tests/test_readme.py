"""The README's opening commands and Python examples are real."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_readme_capture_tour_runs(tmp_path: Path) -> None:
    """The record, replay and plot commands of "Replaying a capture", as written."""
    pytest.importorskip("matplotlib")
    section = README.read_text().split("**Replaying a capture.**", 1)[1].split("```python", 1)[0]
    commands = [
        line
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
        for line in block.strip().splitlines()
    ]
    assert [c.split()[1] for c in commands] == ["record", "replay", "replay"], commands
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "wexbook"
        if argv[1] == "record":  # the one change: 4 s of recording, not 20 (CI's time)
            at = argv.index("--seconds") + 1
            assert argv[at] == "20", command
            argv[at] = "4"
        done = subprocess.run(
            [sys.executable, "-m", "feeds.apps.cli", *argv[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        outputs.append(done.stdout)
    assert "recorded" in outputs[0] and "spot:btc_usdt" in outputs[0]
    assert "mismatches: 0" in outputs[1] and "checkpoints matched: 0/" not in outputs[1]
    assert "wrote book.png" in outputs[2]
    png = tmp_path / "book.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    # The picture the README shows is in the repository.
    assert (README.parent / "docs" / "replay-plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
