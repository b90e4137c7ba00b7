"""Progress on long work: shown on a terminal (stderr), never off one or with --quiet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_terminal import run_on_terminal

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
USDM = REALDATA / "cryptofeed-binance-usdm-4sym"


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cap") / "usdm"
    from feeds.capture.importers import import_recording

    stages: list[tuple[str, int, int]] = []
    import_recording([USDM], out, progress=lambda *a: stages.append(a))
    # The import says how far it is: every input read, then every recording written.
    assert stages[0] == ("reading", 0, 1) and ("reading", 1, 1) in stages
    assert stages[-1] == ("writing", 1, 1)
    return out


def test_replay_shows_progress_on_a_terminal_only(capture: Path) -> None:
    # Paced: the capture's 30 s at 20 times real time.
    argv = [sys.executable, "-m", "feeds.apps.cli", "replay", str(capture), "--speed", "20"]
    shown = run_on_terminal(argv, 100, 20, 60)
    assert "segments" in shown and "real time" in shown
    quiet = run_on_terminal([*argv, "--quiet"], 100, 20, 60)
    assert "segments" not in quiet
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert "segments" not in piped.stderr and "real time" not in piped.stderr


def test_replay_many_reports_tasks_as_they_finish(capture: Path) -> None:
    from feeds.capture.many import replay_many

    seen: list[tuple[str, int, int]] = []
    results = replay_many([capture], workers=1, every_ms=None, progress=lambda *a: seen.append(a))
    assert len(results) == 4 and all(r.ok for r in results)
    assert seen[0] == ("replaying", 0, 4) and seen[-1] == ("replaying", 4, 4)
