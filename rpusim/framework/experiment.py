"""An experiment: a paper figure or table as a base run config plus named variants.

An :class:`Experiment` is what ``rpusim list`` shows and ``rpusim run NAME`` executes:
each variant is a set of overrides of the base config and becomes one run directory;
presets (``quick`` for smoke runs, ``full`` for the paper's setting) are overrides
applied to every variant. ``claims`` holds what the paper says, shown beside the
measured figure in reports; ``figures`` draws an experiment's own figures (e.g. heat maps)
from its results folder after ``rpusim run``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import ConfigError


@dataclass
class Experiment:
    name: str
    description: str
    base: dict
    variants: dict[str, dict]
    presets: dict[str, dict] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)
    paper: str = ""
    default_variants: list[str] | None = None
    figures: Callable[[Path], list[Path]] | None = None  # the experiment's own figures, drawn after a run

    def variant_names(self, chosen: list[str] | None = None) -> list[str]:
        """The chosen variants (``["all"]``: every one), else the default ones, else all."""
        names = list(self.variants) if chosen == ["all"] else chosen or self.default_variants or list(self.variants)
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise ConfigError(f"variants {unknown}: unknown for {self.name} (allowed: {', '.join(self.variants)})")
        return names
