"""Writes ``docs/metrics.md`` from :data:`feeds.metrics.spec.METRICS`.

python -m feeds.metrics.docs           # rewrite docs/metrics.md
python -m feeds.metrics.docs --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .spec import METRICS

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

_SCOPES = {
    "book": "Per book (`venue`, `symbol`)",
    "venue": "Timings per venue",
    "connection": "Per websocket connection (`venue`)",
    "scheduler": "Snapshot scheduler, one per venue host (`venue`)",
    "rest": "REST clients",
    "capture": "The capture recorder, while one is attached (`wexbook record`)",
    "publisher": "The broker publisher, while one observes the manager (`feeds.broker`)",
}


def render() -> str:
    """The text of ``docs/metrics.md``."""
    lines = [
        "# Metrics",
        "",
        "Generated from `feeds/metrics/spec.py` by `python -m feeds.metrics.docs`; do not edit.",
        "",
        "Every value is read at scrape time from counters the engine keeps anyway, or from a",
        "moment `feeds.metrics.BookWatch` recorded off the event path. Serve them with",
        "`wexbook demo|watch|record --metrics-port 9108`, or from Python with",
        "`feeds.metrics.serve(manager)` / `feeds.metrics.register(manager, registry)`.",
        "Alerting rules: `feeds/metrics/alerts.yml`; Grafana dashboard:",
        "`feeds/metrics/dashboard.json`.",
        "",
        f"{len(METRICS)} metrics.",
    ]
    for scope, title in _SCOPES.items():
        rows = [m for m in METRICS if m.scope == scope]
        if not rows:
            continue
        lines += ["", f"## {title}", "", "| metric | type | unit | labels | meaning | read from |"]
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for m in rows:
            labels = ", ".join(f"`{label}`" for label in m.labels) or "-"
            text = m.help.replace("|", "\\|")
            source = m.source.replace("|", "\\|")
            unit = m.unit or "-"
            lines.append(f"| `{m.name}` | {m.kind} | {unit} | {labels} | {text} | {source} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m feeds.metrics.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run python -m feeds.metrics.docs", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC} ({len(METRICS)} metrics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
