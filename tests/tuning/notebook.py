"""Run code the way a notebook kernel does, without IPython installed.

IPython compiles each cell under a made-up filename, registers the cell's text in
linecache under that name (which is how `inspect.getsource` finds it later), and runs it in
one user namespace whose `__name__` is `__main__` and which has no `__file__`. This does
the same, so tests exercise tune()'s notebook path as a kernel would.
"""

from __future__ import annotations

import linecache
from typing import Any


class Kernel:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.cells = 0

    def run_cell(self, source: str) -> None:
        self.cells += 1
        filename = f"<ipython-input-{self.cells}-0123456789ab>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True),
                                     filename)
        exec(compile(source, filename, "exec"), self.namespace)  # noqa: S102 - test cells
