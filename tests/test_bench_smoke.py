"""The benchmark code itself, on a short stream: every variant ends with the same book."""

from __future__ import annotations

from bench.memory import memory_ratio, traced_bytes
from bench.runners import VARIANTS, NaiveBook, book_bytes_per_level, book_levels, setup_engine
from feeds.sim.stream_file import generate_stream, load_stream, save_stream


def test_all_variants_agree_on_a_short_stream() -> None:
    stream = generate_stream(300, seed=2)
    books = {
        name: book_levels(loop(setup(stream.snapshot), stream.frames))
        for name, (setup, loop) in VARIANTS.items()
    }
    reference = books.pop("baseline")
    assert len(reference[0]) > 400 and len(reference[1]) > 400
    for name, levels in books.items():
        assert levels == reference, name


def test_baseline_really_applies_frames() -> None:
    stream = generate_stream(50, seed=2)
    fresh = book_levels(NaiveBook(stream.snapshot))
    after = book_levels(VARIANTS["baseline"][1](NaiveBook(stream.snapshot), stream.frames))
    assert fresh != after


def test_stream_file_round_trip(tmp_path) -> None:
    stream = generate_stream(40, seed=4, venue="futures")
    path = tmp_path / "s.jsonl"
    save_stream(stream, path)
    loaded = load_stream(path)
    assert loaded == stream
    path.write_bytes(path.read_bytes()[:-200])
    try:
        load_stream(path)
    except ValueError as exc:
        assert "truncated" in str(exc)
    else:
        raise AssertionError("a truncated stream file must be refused")


def test_memory_measurement_sees_books() -> None:
    snaps = [generate_stream(0, seed=s).snapshot for s in range(2)]
    assert traced_bytes(setup_engine, snaps, 3) > 3 * 1000 * 30
    ratios = memory_ratio(4, snaps)
    assert 0.3 < ratios["ratio"] < 3
    assert book_bytes_per_level(setup_engine(snaps[0])) > 30
