"""Document blocks computed by a paper's own code: from the code itself (a device law, a
simulation), or from a study's run records by an analysis the generic tables cannot do (a heat
map over two parameters, a verdict on a claim).

A paper module describes such a block as a :class:`ComputedView`; the catalog lists them by name
(:data:`rpusim.papers.catalog.COMPUTED`) and the command line hands them to
:func:`rpusim.framework.doc_tables.report_documents`, so this layer knows no paper. A document asks
for one with

    <!-- rpusim:computed name=ctf-update-noise path=docs/img/ctf_update_noise.png -->
    ... generated: the figure's image link (when path= is given) and the view's Markdown ...
    <!-- /rpusim:computed -->

``rpusim report --all`` computes the view's numbers (deterministic: seeded), rewrites the block from
them, draws the figure and writes the numbers beside it (same name, ``.json``); ``--check`` computes
them again and compares the block's text and the ``.json`` with them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class ComputedView:
    """How to compute, write and draw one generated block.

    ``compute()`` returns the numbers as a JSON-able dict (same numbers on every call) — or, for a
    view with ``records`` (a folder under the repository root, e.g. ``results/ctf-grid``),
    ``compute(root)`` from the records there; ``markdown(data)`` the block's text;
    ``draw(data, path)`` the PNG of a block with ``path=``.
    """

    compute: Callable[..., dict]
    markdown: Callable[[dict], str]
    draw: Callable[[dict, Path], None] | None = None
    title: str = ""
    records: str = ""

    def numbers(self, root: Path) -> dict:
        """The view's numbers: from the code, or from the records under ``root``."""
        return self.compute(root) if self.records else self.compute()

    def source(self) -> str:
        """Where the numbers come from, in words (under the figure's link)."""
        return f"Generated from the records in `{self.records}/`" if self.records else \
            "Computed from the code, not from runs"
