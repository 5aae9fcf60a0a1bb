"""Sphinx configuration of the user guide (the Markdown pages in this folder, through MyST).

`make test` builds it strictly: `sphinx-build -W --keep-going -n -b html docs build/docs`.
With -W every warning fails the build: a link to a page or a heading anchor that does not
exist, a page left out of every toctree, an image that is missing, a code block that does
not lex in its language.
"""

from __future__ import annotations

project = "carbs-operator"
author = "carbs-operator authors"
copyright = "carbs-operator authors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# `[text](page.md#a-heading)` resolves to a heading of h1 to h4, and a missing one warns.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = "carbs-operator"
html_static_path: list[str] = []
pygments_style = "sphinx"
