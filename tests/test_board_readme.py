"""The README's board example runs as written: the engine command in one process, the
reader block in another (issue 23)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feeds.board import atomics, layout

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


@pytest.mark.slow
@pytest.mark.skipif(not atomics.AVAILABLE, reason=f"the board refuses here: {atomics.UNAVAILABLE}")
def test_readme_board_example_runs() -> None:
    section = README.read_text().split("## Books for other processes", 1)[1].split("\n## ", 1)[0]
    (command,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    (code,) = re.findall(r"```py\n(.*?)```", section, re.S)
    argv = shlex.split(command.strip())
    assert argv[:4] == ["wexbook", "serve", "--board", "desk"]
    name = f"readme{os.getpid()}"  # not the example's name: tests may run side by side
    argv = [sys.executable, "-m", "feeds.apps.cli", *argv[1:3], name, "--seconds", "8"]
    engine = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert "serving board" in engine.stdout.readline()  # type: ignore[union-attr]
        time.sleep(1.5)  # the books go LIVE
        reader = subprocess.run(
            [sys.executable, "-c", code.replace('"desk"', repr(name))],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert reader.returncode == 0, reader.stderr
        lines = reader.stdout.splitlines()
        assert len(lines) == 20
        live = [line for line in lines if not line.startswith("not live:")]
        assert live, lines
        for line in live:
            update_id, bid, _ = line.split(" ", 2)
            assert int(update_id) > 0 and "Level(price=Decimal(" in bid
        assert Path(layout.board_path(name)).exists()  # the reader's exit left it
        engine.send_signal(2)
        assert engine.wait(20) == 130
        assert not Path(layout.board_path(name)).exists()
    finally:
        if engine.poll() is None:
            engine.kill()
        engine.wait(10)
        Path(layout.board_path(name)).unlink(missing_ok=True)
