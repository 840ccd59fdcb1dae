"""Reports: summary tables, Markdown and self-contained HTML."""

from __future__ import annotations

from pipeline.report.tables import (
    comparison,
    comparisons,
    summary,
    summary_by_dataset,
    summary_by_group,
)

__all__ = ["comparison", "comparisons", "summary", "summary_by_dataset", "summary_by_group"]
