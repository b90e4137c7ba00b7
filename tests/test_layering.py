"""The house rules the code can be checked against (issue 22, section 4), read from the code.

Every import of every module of ``orderbook`` and ``feeds`` counts, wherever it is written
(module level, inside a function, under ``TYPE_CHECKING``): a circle through a type hint is
still a circle. A package's ``__init__`` importing its own submodules is a re-export, not an
edge back.

- no import circles (each package is listed: one the work has not reached yet is missing
  from :data:`CIRCLE_FREE`, on purpose, rather than passing without being checked);
- the apps sit on top: nothing outside ``feeds.apps`` imports them;
- no private (``_name``) name of a wexbook module taken by another module.

Not checked, on purpose: ``tests/`` and ``bench/``. ``bench.capture`` reaches into the
recorder (``_conns`` and ``_queue``, to time its per-frame stamp alone, the connection
indexed as after its first frame; ``_compressor``, to write captures as they were before
checksums): a measurement harness, the one documented exception outside the compiled
twins (whose entry points ``orderbook.accel`` wires). The compiled capture loops are
imported by their public functions (``from ._replayloop import frames``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orderbook", "feeds")
#: Packages (and "feeds" for its top-level modules) checked for import circles.
CIRCLE_FREE = (
    "orderbook",
    "feeds",
    "feeds.sim",
    "feeds.rest",
    "feeds.apps",
    "feeds.metrics",
    "feeds.capture",
)
#: Packages checked for private names taken across modules.
PRIVATE_FREE = (
    "feeds.sim",
    "feeds.rest",
    "feeds.apps",
    "feeds.capture",
    "feeds.private",
    "feeds.topics",
    "feeds.metrics",
    "feeds.manager",
    "feeds.connection",
    "feeds.protocol",
    "feeds.observe",
    "feeds.wslayer",
    "feeds.status",
    "feeds.scheduler",
    "feeds.threaded",
    "feeds.board",
)
#: The compiled twins: imported by the one module that picks them (``orderbook/accel.py``,
#: ``feeds/board/atomics.py``, the capture's loop and packer), the documented exception.
COMPILED_TWINS = {"_speedups", "_seqlock", "_replayloop", "_recordpack"}
#: Names that start with ``_`` and are public API (named tuples).
PUBLIC_UNDERSCORE = {"_fields", "_replace", "_asdict", "_make"}
#: Third-party privates wexbook has to reach, each with its reason: ``(module, name)``.
THIRD_PARTY = {
    ("feeds.rest.bounded", "_pool"): "httpx.HTTPTransport has no public network-backend hook",
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _owner(dotted: str) -> str | None:
    """The wexbook module ``dotted`` names (or names something in), ``None`` if none."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """``(wexbook module, name taken from it or None)`` for each name ``node`` imports."""
    out: list[tuple[str, str | None]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            owner = _owner(alias.name)
            if owner:
                out.append((owner, None))
        return out
    if node.level:
        base = _package_of(module).split(".")
        base = base[: len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        if submodule in MODULES:
            out.append((submodule, None))
        elif (owner := _owner(source)) is not None:
            out.append((owner, alias.name))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target, _ in _imported(name, node):
                    if target != name and not target.startswith(name + "."):
                        graph[name].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _in(module: str, package: str) -> bool:
    """``module`` belongs to ``package`` (for ``feeds``: its top-level modules only)."""
    if package == "feeds":
        return module == "feeds" or (module.count(".") == 1 and module.startswith("feeds."))
    return module == package or module.startswith(package + ".")


def test_the_checker_sees_a_circle_and_a_type_checking_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .simulator import S\n"
    )
    node = tree.body[1].body[0]  # type: ignore[attr-defined]
    assert _imported("feeds.sim.wsside", node) == [("feeds.sim.simulator", "S")]


@pytest.mark.parametrize("package", CIRCLE_FREE)
def test_no_import_circles(package: str) -> None:
    circles = [c for c in _circles(_graph()) if any(_in(m, package) for m in c)]
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_nothing_below_the_apps_imports_them() -> None:
    up = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if not _in(name, "feeds.apps")
        for target in targets
        if _in(target, "feeds.apps")
    ]
    assert not up, up


def _private_uses(name: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    foreign = set()  # names bound to modules that are not wexbook's (argparse, aiohttp...)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            foreign |= {
                (a.asname or a.name).split(".")[0] for a in node.names if not _owner(a.name)
            }
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, taken in _imported(name, node):
                if (
                    taken
                    and taken.startswith("_")
                    and not taken.startswith("__")
                    and taken not in COMPILED_TWINS
                ):
                    found.append((node.lineno, f"{taken} from {target}"))
    for node in ast.walk(tree):
        attr = None
        if isinstance(node, ast.Attribute):
            holder = node.value
            if isinstance(holder, ast.Name) and holder.id in {"self", "cls"} | foreign:
                continue
            attr = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            attr = node.args[1].value
        private = bool(attr) and attr.startswith("_") and not attr.startswith("__")
        if private and attr not in PUBLIC_UNDERSCORE and (name, attr) not in THIRD_PARTY:
            found.append((node.lineno, ast.unparse(node)))
    return [f"{path.name}:{line}: {text}" for line, text in sorted(found)]


def test_the_private_name_check_sees_both_spellings(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import argparse\nfrom .trading import _s\n"
        "argparse._HelpAction\nself._ok\ndesk._order(1)\ngetattr(m, '_loop', None)\n"
    )
    found = _private_uses("feeds.sim.tradingroutes", source)
    assert [f.split(": ", 1)[1] for f in found] == [
        "_s from feeds.sim.trading",
        "desk._order",
        "getattr(m, '_loop', None)",
    ]


@pytest.mark.parametrize("package", PRIVATE_FREE)
def test_no_private_names_taken_across_modules(package: str) -> None:
    found = [
        use
        for name, path in sorted(MODULES.items())
        if _in(name, package)
        for use in _private_uses(name, path)
    ]
    assert not found, "\n".join(found)
