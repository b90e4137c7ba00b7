"""Import another recorder's files into a wexbook capture (then ``wexbook replay OUT --verify``).

    python tools/import_capture.py hftbacktest $REAL/hftbacktest-*/*.gz --out cap1
    python tools/import_capture.py cryptofeed $REAL/cryptofeed-binance-usdm-4sym --out cap2

(``REAL=../shared/realdata``.)

Exit codes: 0 imported; 2 bad usage (no such input, output already holds the segments).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feeds.capture.importers import import_cryptofeed, import_hftbacktest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("format", choices=["hftbacktest", "cryptofeed"], help="the recorder")
    p.add_argument(
        "inputs", nargs="+", type=Path, help="hftbacktest .gz files, or a cryptofeed directory"
    )
    p.add_argument("--out", type=Path, required=True, help="capture directory to write")
    p.add_argument(
        "--venue",
        choices=["spot", "futures"],
        help="default: spot (hftbacktest), futures (cryptofeed)",
    )
    args = p.parse_args(argv)
    missing = [str(x) for x in args.inputs if not x.exists()]
    if missing:
        print(f"import_capture: error: no such input: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        if args.format == "hftbacktest":
            paths = import_hftbacktest(args.inputs, args.out, venue=args.venue or "spot")
        else:
            paths = import_cryptofeed(args.inputs[0], args.out, venue=args.venue or "futures")
    except FileExistsError as exc:
        print(f"import_capture: error: {exc.filename} exists (never overwritten)", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"import_capture: error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
