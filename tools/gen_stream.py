"""Write a generated ``depth_update`` stream file (snapshot + raw frames, JSON lines).

    python tools/gen_stream.py --frames 200000 --seed 0 --out .bench-cache/spot-0-200000.jsonl

The benchmark stream is this script's default output; ``--venue futures``
writes futures frames (``pu``/``fu``/``u``) instead.
"""

from __future__ import annotations

import argparse
import time

from feeds.sim.stream_file import generate_stream, save_stream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--venue", choices=["spot", "futures"], default="spot")
    parser.add_argument("--out", required=True, help="output file (.jsonl)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    stream = generate_stream(args.frames, args.seed, args.venue)
    save_stream(stream, args.out)
    print(
        f"wrote {len(stream.frames)} {args.venue} frames to {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
