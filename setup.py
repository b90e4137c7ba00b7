"""Builds the optional compiled accelerator.

Four extensions: ``orderbook/_speedups.pyx`` (the hot path of the core),
``feeds/capture/_replayloop.pyx`` (the replay's frame loop, which cimports the first),
``feeds/capture/_recordpack.pyx`` (the recorder's frame packing) and
``feeds/board/_seqlock.pyx`` (the shared-memory board's seqlock).

Everything else is declared in pyproject.toml. Where Cython or a C compiler is
missing, the build goes on without the extension and wexbook runs on its
pure-Python path (``orderbook.accel.ACCELERATED`` is then False).
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the extension cannot be compiled."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler: a pure install
            print(f"wexbook: accelerator not built ({exc}); using pure Python", file=sys.stderr)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"wexbook: accelerator not built ({exc}); using pure Python", file=sys.stderr)


SOURCES = (
    "orderbook/_speedups.pyx",
    "feeds/capture/_replayloop.pyx",
    "feeds/capture/_recordpack.pyx",
    "feeds/board/_seqlock.pyx",
)


def extensions() -> list:
    if os.environ.get("WEXBOOK_NO_EXTENSION"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("wexbook: Cython not available; using pure Python", file=sys.stderr)
        return []
    built = []
    for source in SOURCES:  # one at a time: a module that fails to translate costs only itself
        try:
            built += cythonize([source], compiler_directives={"language_level": "3"}, quiet=True)
        except Exception as exc:  # a Cython that cannot translate it: still a working install
            print(f"wexbook: {source} not translated ({exc}); using pure Python", file=sys.stderr)
    return built


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
