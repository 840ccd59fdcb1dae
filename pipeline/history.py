"""Cost and quality over time: the earlier runs of a config, from their manifests and
summaries (never their journals, so a long history stays quick to list).

A run that failed before its summary was written is still listed, with its status and no
figures. Figures that are unknown (no price, no summary) stay unknown: `None` in JSON, `–` in
the table, a gap in the trend lines; never 0.
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.report.html import csp
from pipeline.report.sections import fmt
from pipeline.runfolder import LOCK, atomic_write, runs_of

DEFAULT_OUTPUT_DIR = "reports"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(slots=True)
class ModelFigures:
    """One model's figures in one run (None: unknown)."""

    model: str
    model_id: str | None = None
    accuracy: float | None = None
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_estimated: int | None = None  # rows whose usage was estimated, not reported
    errors: int | None = None  # results that are errors (final or left to retry)
    failed: int | None = None  # items that failed for good
    items: int | None = None

    @property
    def tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class RunFigures:
    """One run of the config: when, how it ended, and per model its figures."""

    run_id: str
    folder: str
    created_at: str | None
    updated_at: str | None
    status: str
    provider: str | None
    simulated: bool  # made on the built-in emulator: not a real model's figures
    items_done: int | None
    items_planned: int | None
    spent_usd: float | None
    request_fingerprint: str | None
    requests_changed: bool = False  # its requests differ from the run listed before it
    models: list[ModelFigures] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for m, d in zip(self.models, out["models"], strict=True):
            d["tokens"] = m.tokens
        return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _status(folder: Path, manifest: dict[str, Any]) -> str:
    """The manifest's status; a 'running' run whose lock nobody holds died mid-run."""
    status = str(manifest.get("status") or "unknown")
    if status != "running" or not (folder / LOCK).exists():
        return status
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except OSError:
        return status
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return "running"
    finally:
        os.close(fd)  # closing releases a lock taken here
    return "stopped (the process died mid-run)"


def _models(folder: Path, manifest: dict[str, Any]) -> list[ModelFigures]:
    """Per model figures from summary.parquet; the manifest's models, figures unknown,
    when the run never wrote one."""
    import polars as pl

    ids = {m.get("name"): m.get("id") for m in manifest.get("models") or []}
    path = folder / "summary.parquet"
    if not path.exists():
        return [ModelFigures(str(name), ids[name]) for name in ids]
    out = []
    for r in pl.read_parquet(path).iter_rows(named=True):
        out.append(ModelFigures(
            model=str(r["model"]), model_id=ids.get(r["model"]), accuracy=r.get("accuracy"),
            accuracy_ci_low=r.get("accuracy_ci_low"), accuracy_ci_high=r.get("accuracy_ci_high"),
            cost_usd=r.get("cost_usd"), prompt_tokens=_int(r.get("prompt_tokens")),
            completion_tokens=_int(r.get("completion_tokens")),
            tokens_estimated=_int(r.get("usage_estimated")), errors=_int(r.get("errors")),
            failed=_int(r.get("failed")), items=_int(r.get("items")),
        ))
    return out


def _folders(output_dir: Path | str, name: str) -> list[tuple[Path, dict[str, Any]]]:
    """(local folder, manifest) of each run, oldest first; for an s3:// output_dir, each
    run's manifest and summary are fetched to its local working copy (journals never)."""
    from pipeline.store import open_store

    store = open_store(str(output_dir))
    if store is None:
        return runs_of(Path(output_dir), name)
    return [(store.fetch(run_id, ["manifest.json", "summary.parquet"]), m)
            for run_id, m in store.runs(name)]


def list_runs(output_dir: Path | str, name: str) -> list[RunFigures]:
    """The runs of config `name` under output_dir (a folder or s3://), oldest first."""
    runs: list[RunFigures] = []
    before: str | None = None  # the last known request fingerprint
    for folder, m in _folders(output_dir, name):
        totals = m.get("totals") or {}
        fp = m.get("request_fingerprint")
        changed = fp is not None and before is not None and fp != before
        before = fp or before
        runs.append(RunFigures(
            run_id=str(m.get("run_id") or folder.name), folder=str(folder),
            created_at=m.get("created_at"), updated_at=m.get("updated_at"),
            status=_status(folder, m), provider=m.get("provider"),
            simulated=m.get("provider") == "local",
            items_done=_int(totals.get("done")), items_planned=_int(totals.get("planned")),
            spent_usd=totals.get("spent_usd"), request_fingerprint=fp,
            requests_changed=changed,
            models=_models(folder, m),
        ))
    return runs


def history(config_or_name: str, output_dir: str | None = None
            ) -> tuple[list[RunFigures], str, Path | str]:
    """(runs, name, output dir) for a config file (its name and output_dir) or a bare name."""
    path = Path(config_or_name)
    if path.suffix == ".toml" or os.sep in config_or_name or path.is_file():
        from pipeline.config import load_config

        cfg = load_config(path).config
        name, out = cfg.name, output_dir or cfg.output_dir
    else:
        if not _NAME.match(config_or_name):
            raise InputError(f"history: {config_or_name!r} is neither a config file nor a run "
                             "name (give configs/x.toml or the config's name)")
        name, out = config_or_name, output_dir or DEFAULT_OUTPUT_DIR
    from pipeline.store import is_store

    if is_store(out):
        return list_runs(out, name), name, out
    out_dir = Path(out)
    if output_dir is not None and not out_dir.is_dir():
        raise InputError(f"--output-dir {out}: no such folder")
    return list_runs(out_dir, name), name, out_dir


# -- text -------------------------------------------------------------------------------------
def _tokens(m: ModelFigures) -> str:
    text = fmt(m.tokens, "int")
    return f"{text}*" if m.tokens is not None and m.tokens_estimated else text


def _items(r: RunFigures) -> str:
    if r.items_planned is None:
        return "–"
    return f"{r.items_done if r.items_done is not None else '–'}/{r.items_planned}"


def render_table(runs: list[RunFigures]) -> str:
    """Runs oldest first, one line per model; the run's own cells on its first line."""
    from pipeline.report.text import render_columns

    headers = ["run", "started", "status", "items", "model", "score", "cost", "tokens",
               "errors"]
    rows = []
    for r in runs:
        head = [r.run_id + (" (simulated)" if r.simulated else ""),
                (r.created_at or "–").replace("T", " ").rstrip("Z"), r.status, _items(r)]
        for i, m in enumerate(r.models or [ModelFigures("–")]):
            rows.append((head if i == 0 else ["", "", "", ""]) + [
                m.model, fmt(m.accuracy, "pct"), fmt(m.cost_usd, "usd"), _tokens(m),
                fmt(m.errors, "int")])
    lines = [render_columns(headers, rows, left=5)]
    if any(m.tokens_estimated for r in runs for m in r.models):
        lines.append("* includes estimated tokens (answers without usage)")
    changed = [r.run_id for r in runs if r.requests_changed]
    if changed:
        lines.append("requests changed (prompts, settings or datasets) at: " + ", ".join(changed)
                     + "; figures before and after are not comparable")
    if any(r.simulated for r in runs):
        lines.append("(simulated): made on the built-in emulator; its figures are not a real "
                     "model's")
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d1f23;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{padding:.3rem .55rem;
border-bottom:1px solid #e3e5e8;text-align:right;white-space:nowrap}
th:nth-child(-n+5),td:nth-child(-n+5){text-align:left}th{background:#f4f5f7}
.banner{background:#fff4e5;border:1px solid #f2994a;padding:.6rem .9rem;border-radius:4px}
.legend span{margin-right:1.2rem;white-space:nowrap}.note{color:#5b616b;font-size:.9em}
svg text{font:12px system-ui,sans-serif}
"""
_COLORS = ["#6b4fbb", "#2f80ed", "#27ae60", "#eb5757", "#f2994a", "#828282"]
_CHAR_W = 7.5  # a generous width of one 12px character, so labels are never cut


def _line_chart(title: str, xs: list[str], series: list[tuple[str, list[float | None]]],
                kind: str) -> str:
    """An inline SVG line chart: one line per series over the runs; None is a gap."""
    longest = max((len(x) for x in xs), default=1)
    values = [v for _, vs in series for v in vs if v is not None]
    top = 1.0 if kind == "pct" else (max(values, default=0.0) or 1.0)
    ticks = [0.0, top / 2, top]
    y_w = max(len(fmt(t, kind)) for t in ticks) * _CHAR_W + 12
    # x labels are rotated 40 degrees, ending under their point: room left and below
    left = max(y_w, longest * _CHAR_W * 0.77 + 8)
    bottom = longest * _CHAR_W * 0.66 + 30
    step = 64.0 if len(xs) <= 15 else max(24.0, 900.0 / (len(xs) - 1))  # many runs: denser
    plot_w = max(step * max(len(xs) - 1, 1), 240.0)
    plot_h, top_pad, right = 180.0, 18.0, 24.0
    width, height = left + plot_w + right, top_pad + plot_h + bottom

    def x_at(i: int) -> float:
        return left + (plot_w / 2 if len(xs) == 1 else i * plot_w / (len(xs) - 1))

    def y_at(v: float) -> float:
        return top_pad + plot_h * (1 - v / top)

    out = [f'<figure><figcaption><b>{escape(title)}</b></figcaption>'
           f'<svg width="{width:.0f}" height="{height:.0f}" role="img" '
           f'aria-label="{escape(title)}">']
    for t in ticks:
        y = y_at(t)
        out.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#e3e5e8"/><text x="{left - 6:.1f}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(fmt(t, kind))}</text>')
    for i, x in enumerate(xs):
        px, py = x_at(i), top_pad + plot_h + 14
        out.append(f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="end" '
                   f'transform="rotate(-40 {px:.1f} {py:.1f})">{escape(x)}</text>')
    for si, (label, vs) in enumerate(series):
        color = _COLORS[si % len(_COLORS)]
        segment: list[str] = []
        for i, v in enumerate([*vs, None]):
            if v is None:
                if len(segment) > 1:
                    out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                               f'points="{" ".join(segment)}"/>')
                segment = []
                continue
            segment.append(f"{x_at(i):.1f},{y_at(v):.1f}")
        for i, v in enumerate(vs):
            if v is not None:
                tip = f"{label} · {xs[i]}: {fmt(v, kind)}"
                out.append(f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3.5" '
                           f'fill="{color}"><title>{escape(tip)}</title></circle>')
    out.append("</svg><div class=legend>")
    out += [f'<span><b style="color:{_COLORS[i % len(_COLORS)]}">&#9632;</b> '
            f"{escape(label)}</span>" for i, (label, _) in enumerate(series)]
    out.append("</div></figure>")
    return "".join(out)


def render_html(name: str, runs: list[RunFigures]) -> str:
    """A self-contained trend page: score and cost per model over the runs, and the table."""
    xs = [r.run_id for r in runs]
    labels = list(dict.fromkeys(m.model for r in runs for m in r.models))

    def series(attr: str) -> list[tuple[str, list[float | None]]]:
        out = []
        for label in labels:
            by_run = [{m.model: m for m in r.models}.get(label) for r in runs]
            out.append((label, [getattr(m, attr) if m is not None else None for m in by_run]))
        return out

    title = f"History of {name}"
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           f'<meta http-equiv="Content-Security-Policy" content="{csp()}">',
           f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{escape(title)}</h1>"]
    simulated = sum(r.simulated for r in runs)
    if simulated:
        which = "All" if simulated == len(runs) else f"{simulated} of {len(runs)}"
        out.append(f'<p class="banner"><b>Simulated figures.</b> {which} of these runs were '
                   "made on the built-in emulator (provider.kind = \"local\"), not a real "
                   "model: their scores, tokens and costs are simulated.</p>")
    if not runs:
        out.append("<p>No runs yet.</p>")
    else:
        out.append(_line_chart("Score (accuracy) per model", xs, series("accuracy"), "pct"))
        out.append(_line_chart("Cost per model (USD)", xs, series("cost_usd"), "usd"))
        out.append('<p class="note">A gap: no figure for that run (no summary, or a model '
                   "without a price: unknown, not zero).</p>")
        out.append(_html_table(runs))
    out.append("</body></html>\n")
    return "\n".join(out)


def _html_table(runs: list[RunFigures]) -> str:
    headers = ["run", "started", "status", "items", "model", "score", "cost", "tokens",
               "errors"]
    out = ["<h2>Runs</h2><table><thead><tr>"]
    out += [f"<th>{escape(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for r in runs:
        run = r.run_id + (" (simulated)" if r.simulated else "") + (
            " (requests changed)" if r.requests_changed else "")
        for m in r.models or [ModelFigures("–")]:
            cells = [run, r.created_at or "–", r.status, _items(r), m.model,
                     fmt(m.accuracy, "pct"), fmt(m.cost_usd, "usd"), _tokens(m),
                     fmt(m.errors, "int")]
            out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def write_html(path: Path, name: str, runs: list[RunFigures]) -> None:
    """Write the trend page atomically."""
    text = render_html(name, runs)
    try:
        atomic_write(path, lambda p: p.write_text(text, "utf-8"))
    except OSError as exc:
        raise InputError(f"--html {path}: cannot write ({exc.strerror or exc})") from None
