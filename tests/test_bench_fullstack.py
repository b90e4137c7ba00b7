"""bench.fullstack: its arithmetic, its failure reports, and one short real run."""

from __future__ import annotations

import pytest

from bench.fullstack import compare, goal_lines, main, run_child, speed_for, summarize


def run(frames: int, cpu: float, **books: object) -> dict[str, object]:
    return {"frames": frames, "cpu": cpu, "wall": 2.0, **books}


def test_the_sim_speed_gives_the_rate() -> None:
    assert speed_for(800, 4) == 10
    assert speed_for(3200, 4) == 40
    assert speed_for(400, 1) == 20


def test_ratios_goals_and_books() -> None:
    exact = {"books": 8, "live": 8, "resyncs": 0, "checked": 8, "exact": 8, "unmatched": []}
    rows = {
        "wexbook-picows": summarize(
            "wexbook-picows",
            [run(6400, 0.20, **exact), run(6400, 0.16, **exact), run(6400, 0.30, **exact)],
        ),
        "picows": summarize("picows", [run(6400, 0.10)]),
        "ccxtpro": summarize("ccxtpro", [run(6400, 1.0, books=8, checked=8, exact=8)]),
    }
    compare(rows)
    row = rows["wexbook-picows"]
    assert row.fps == 3200 and row.cpu_fraction == 0.10  # medians
    assert row.per_1k == pytest.approx(0.10 / 3.2)
    assert row.vs_ccxt == pytest.approx(0.2) and row.vs_floor == pytest.approx(2.0)
    assert row.exact is True and row.books == "24/24 LIVE, 0 resyncs, 24/24 exact"
    assert rows["picows"].exact is None and rows["ccxtpro"].exact is True
    (line,) = goal_lines(3200, rows)
    assert "0.20 of ccxt.pro (met)" in line and "2.00x picows (met)" in line
    assert "books exact" in line and "NOT" not in line


def test_a_book_not_live_or_not_compared_is_not_exact() -> None:
    exact = {"books": 8, "live": 8, "resyncs": 0, "checked": 8, "exact": 8, "unmatched": []}
    one_down = {**exact, "live": 7, "resyncs": 1}
    row = summarize("wexbook-picows", [run(6400, 0.2, **exact), run(6400, 0.2, **one_down)])
    assert row.exact is False and row.books == "15/16 LIVE, 1 resyncs, 16/16 exact"
    uncompared = {**exact, "checked": 7, "exact": 7, "unmatched": ["spot:s0_usdt"]}
    assert summarize("wexbook-picows", [run(6400, 0.2, **uncompared)]).exact is False
    failed = summarize("wexbook-picows", [run(6400, 0.2, **exact), {"error": "boom"}])
    assert failed.failures == ["boom"] and failed.exact is False
    (line,) = goal_lines(800, {"wexbook-picows": failed})
    assert "not measured" in line and "books NOT exact" in line


def test_a_client_that_cannot_connect_is_a_failure() -> None:
    urls = {"spot websocket": "ws://127.0.0.1:1/public", "futures websocket": "ws://127.0.0.1:1/x"}
    config = {"urls": urls, "names": ["s0_usdt"], "seconds": 0.2, "warmup": 0}
    result = run_child("websockets", config)
    assert "error" in result and "frames" not in result


@pytest.mark.slow
def test_a_short_run_keeps_exact_books(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--rates", "400", "--symbols", "1", "--reps", "1", "--seconds", "0.5"]
    argv += ["--warmup", "0.1", "--variants", "wexbook-picows", "picows"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2/2 LIVE, 0 resyncs, 2/2 exact" in out
    assert "400 fps wexbook-picows: vs ccxt.pro: not measured" in out
