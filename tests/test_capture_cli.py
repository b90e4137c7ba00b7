"""``wexbook record`` and ``wexbook replay`` as a user runs them: kill -9, verify, bad usage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feeds.capture import open_capture
from feeds.capture.format import SUFFIX

CLI = [sys.executable, "-m", "feeds.apps.cli"]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def short_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s recording of the simulator without faults (read, never changed, by its users)."""
    out = tmp_path_factory.mktemp("short") / "cap"
    done = _run("record", "--out", str(out), "--seconds", "3", "--speed", "3", "--no-faults")
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_kill_9_then_replay_verifies_every_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    proc = subprocess.Popen(
        [
            *CLI,
            "record",
            "--out",
            str(out),
            "--seconds",
            "60",
            "--speed",
            "3",
            "--flush-interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "recording the simulator on loopback, faults on" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        # Wait until a few flushes have reached the disk, then kill -9 mid-run.
        while time.monotonic() < deadline:
            segments = list(out.glob(f"*{SUFFIX}"))
            if segments and sum(p.stat().st_size for p in segments) > 40_000:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the recorder wrote nothing")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = _run("replay", str(out), "--verify", "--audit")
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "mismatches: 0" in text and "Traceback" not in done.stderr
    line = next(x for x in text.splitlines() if x.startswith("checkpoints matched:"))
    matched, total = line.split()[2].rstrip(",").split("/")
    assert int(total) > 0 and matched == total
    assert "spot:btc_usdt" in text and "futures:btc_usdt" in text
    # A second recording into the same directory is a new run: nothing is overwritten.
    before = {p.name: p.read_bytes() for p in out.glob(f"*{SUFFIX}")}
    again = _run("record", "--out", str(out), "--seconds", "1.5", "--speed", "3", "--no-faults")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "recorded" in again.stdout and "spot:btc_usdt" in again.stdout
    assert all((out / name).read_bytes() == data for name, data in before.items())
    assert len(open_capture(out)) == 2
    both = _run("replay", str(out), "--verify")
    assert both.returncode == 0 and "replayed 2 run(s)" in both.stdout, both.stdout


def test_bad_usage_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    for args in (
        ["replay", str(tmp_path / "missing")],
        ["replay", str(tmp_path / "notes.txt")],
        ["replay", str(tmp_path)],
        ["replay", str(tmp_path), "--speed", "0"],
        ["replay", str(tmp_path), "--start", "yesterday"],
        ["replay", str(tmp_path), "--book", "btc_usdt"],
        ["record", "--seconds", "-1"],
        ["record", "--spot", "BTC-USDT"],
        ["record", "--spot-url", "ws://127.0.0.1:1/public"],
    ):
        done = _run(*args, timeout=30)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2, (
            args,
            done.stderr,
        )


def test_a_damaged_segment_replays_what_it_can_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    done = _run(
        "record", "--out", str(out), "--seconds", "2", "--speed", "3", "--flush-interval", "0.3"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The live summary and the replay agree book by book (state, update id, gaps, resyncs).
    full = _run("replay", str(out), "--verify")
    assert full.returncode == 0, full.stdout
    live = {
        line.split(":")[0].strip() + ":" + line.split(":")[1]: line
        for line in done.stdout.splitlines()
        if line.startswith("  ")
    }
    assert len(live) == 3
    for book, line in live.items():
        state_id = line.split(": ", 1)[1].split(" (")[0]  # "live at 1000123"
        gaps = line.split("gaps ")[1].split(",")[0]
        replayed = next(x for x in full.stdout.splitlines() if x.startswith(f"  {book}:"))
        assert f"final {state_id}" in replayed and f"gaps {gaps}," in replayed, (line, replayed)
    (seg,) = out.glob(f"*{SUFFIX}")
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) - 40])
    replayed = _run("replay", str(out), "--verify")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "truncated tail at byte" in replayed.stdout


def test_ctrl_c_of_a_replay_prints_what_was_replayed_and_exits_130(short_capture: Path) -> None:
    out = short_capture
    proc = subprocess.Popen(
        [*CLI, "replay", str(out), "--realtime", "--verify"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background shell starts children with SIGINT ignored; Python then installs no
        # KeyboardInterrupt handler. Restore the default, as a terminal has it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        time.sleep(2.0)  # in the middle of the 3 s capture, replayed in real time
        assert proc.poll() is None, "the real-time replay ended early"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "wexbook replay: interrupted"
    assert "Traceback" not in stderr and stdout.startswith("replayed 1 run(s)")


def test_a_closed_pipe_is_exit_141_without_a_traceback(short_capture: Path) -> None:
    """`wexbook replay cap/ --audit | head -1`: the reader leaves before the output ends."""
    out = short_capture
    # stdout is a pipe whose reader is gone (deterministic, unlike a real `head`).
    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from feeds.apps.cli import main\n"
        f"code = main(['replay', {str(out)!r}, '--audit'])\n"
        "print('exit', code, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 141, done.stderr
    assert done.stderr.strip() == "exit 141"  # nothing else: no traceback, no flush error


def test_a_replay_without_verify_says_it_did_not_verify(short_capture: Path) -> None:
    out = short_capture
    plain, verified = _run("replay", str(out)), _run("replay", str(out), "--verify")
    assert plain.returncode == 0 and verified.returncode == 0, plain.stderr + verified.stderr
    assert plain.stdout.splitlines()[-1].startswith("not verified:")
    assert "checkpoints 0/0" not in plain.stdout and "matched" not in plain.stdout
    last = verified.stdout.splitlines()[-1]
    assert last.startswith("checkpoints matched:") and "matched: 0/" not in last
