"""Kept for old scripts: ``wexbook import`` does this now (venue and symbol read from the frames).

    wexbook import $REAL/hftbacktest-*/*.gz -o cap1
    wexbook import $REAL/cryptofeed-binance-usdm-4sym -o cap2

The old spelling still works and runs the same command (``REAL=../shared/realdata``)::

    python tools/import_capture.py hftbacktest $REAL/hftbacktest-*/*.gz --out cap1

The first word (``hftbacktest`` or ``cryptofeed``) is ignored: the kind of each input is
read from the input. Exit codes are ``wexbook import``'s.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feeds.apps.cli import main as wexbook


def main(argv: list[str] | None = None) -> int:
    """``wexbook import`` with the old arguments (an ignored format word first)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("hftbacktest", "cryptofeed"):
        args = args[1:]
    return wexbook(["import", *args])


if __name__ == "__main__":
    sys.exit(main())
