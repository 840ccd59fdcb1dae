"""What a run will cost and how long it must take, worked out before anything is sent.

Per model and dataset: the items to send, their estimated prompt tokens, the worst-case
completion tokens (each request's max_tokens, else the model's output cap) and two costs:
- worst case: the sum of the very reservation the budget makes per request
  (`pricing.worst_case_cost`: every prompt byte a token plus a template margin, and the whole
  max_tokens), so a run never spends more than this estimate's worst case;
- expected: estimated prompt tokens plus an expected output: on the built-in emulator its
  own answers, worked out in process (`emulator.offline`); elsewhere the mean output per
  answer of the latest earlier run of this config (same model id, same dataset); else unknown.
A model without a price has no cost (None), never $0.

The shortest wall time is what the rate limits allow: per model, its requests spaced at its
requests per minute and its tokens at its tokens per minute; models send in parallel, so
the run's is the slowest model's. Latency and concurrency are left out: it is a floor.

No HTTP here: the plan's items are streamed once and never held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.catalog import CATALOG, RATE_WINDOW_S, ModelFacts
from pipeline.config import Config, LoadedConfig
from pipeline.limits import MARGIN
from pipeline.plan import Plan
from pipeline.pricing import Rate, rate_for, worst_case_cost, worst_case_output
from pipeline.tokens import estimate_prompt, worst_case_prompt
from pipeline.work import WorkItem

EMULATOR = "emulator"
UNKNOWN = "unknown"


@dataclass(slots=True)
class Cell:
    """One model on one dataset."""

    model: str
    model_id: str
    dataset: str
    items: int = 0
    prompt_tokens: int = 0  # typical estimate (four characters a token)
    prompt_tokens_worst: int = 0  # one token per byte, plus the template margin
    completion_tokens_worst: int | None = 0  # None: no max_tokens and no published cap
    completion_tokens_expected: float | None = 0.0  # None: no source
    expected_source: str = UNKNOWN  # "emulator", "run <id>" or "unknown"
    expected_mean: float | None = None  # from an earlier run: its mean output per answer
    refused: int = 0  # requests the emulator would answer with a 400 (unbilled)
    cost_worst_usd: float | None = 0.0
    cost_expected_usd: float | None = 0.0


@dataclass(slots=True)
class ModelPace:
    """One model's rate limits and the shortest time they allow for its requests."""

    model: str
    requests: int
    tokens: int  # estimated prompt + expected completion (prompt only when unknown)
    rpm: int | None
    tpm: int | None
    limits: str  # where rpm/tpm come from, or why there are none
    min_wall_s: float | None  # None: no limit applies
    output_known: bool = True  # False: tokens count prompts only (a lower floor)


@dataclass(slots=True)
class Estimate:
    """The whole estimate; `to_json` is what `pipeline estimate --json` prints."""

    config: str
    name: str
    provider: str
    simulated: bool
    cells: list[Cell]
    paces: list[ModelPace]
    remaining_of: str | None = None  # --run-id: only what that run folder still has to send
    already_done: int = 0
    spent_usd: float = 0.0
    max_cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(c.items for c in self.cells)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.cells)

    def _sum(self, name: str) -> float | None:
        values = [getattr(c, name) for c in self.cells]
        return None if any(v is None for v in values) else sum(values)

    @property
    def cost_worst_usd(self) -> float | None:
        """None when any model's is unknown: a partial sum would look like a bound."""
        return self._sum("cost_worst_usd")

    @property
    def cost_expected_usd(self) -> float | None:
        return self._sum("cost_expected_usd")

    @property
    def completion_tokens_worst(self) -> int | None:
        total = self._sum("completion_tokens_worst")
        return None if total is None else int(total)

    @property
    def completion_tokens_expected(self) -> float | None:
        return self._sum("completion_tokens_expected")

    @property
    def min_wall_s(self) -> float | None:
        """The run's floor: the slowest model's (they send in parallel)."""
        walls = [p.min_wall_s for p in self.paces if p.min_wall_s is not None]
        return max(walls) if walls else None

    @property
    def budget_fits(self) -> bool | None:
        """Whether the worst case fits in what is left of run.max_cost_usd (None: no cap, or
        the worst case is unknown)."""
        worst = self.cost_worst_usd
        if self.max_cost_usd is None or worst is None:
            return None
        return self.spent_usd + worst <= self.max_cost_usd + 1e-12

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config, "name": self.name, "provider": self.provider,
            "simulated": self.simulated, "remaining_of": self.remaining_of,
            "already_done": self.already_done, "spent_usd": self.spent_usd,
            "rows": [asdict(c) for c in self.cells],
            "models": [asdict(p) for p in self.paces],
            "totals": {
                "items": self.items, "prompt_tokens": self.prompt_tokens,
                "completion_tokens_worst": self.completion_tokens_worst,
                "completion_tokens_expected": self.completion_tokens_expected,
                "cost_worst_usd": self.cost_worst_usd,
                "cost_expected_usd": self.cost_expected_usd,
                "min_wall_s": self.min_wall_s,
            },
            "budget": {"max_cost_usd": self.max_cost_usd, "fits": self.budget_fits},
            "notes": self.notes,
        }


def _previous_means(cfg: Config) -> tuple[str | None, dict[tuple[str, str], float]]:
    """Mean completion tokens per answer, per (model, dataset), of the newest earlier run of
    this config that has results; only models whose id is the same now."""
    import polars as pl

    from pipeline.runfolder import runs_of

    ids = {m.name: m.id for m in cfg.models}
    for folder, manifest in reversed(runs_of(Path(cfg.output_dir), cfg.name)):
        results = folder / "results.parquet"
        if not results.exists():
            continue
        then = {m.get("name"): m.get("id") for m in manifest.get("models") or []}
        same = [name for name, mid in ids.items() if then.get(name) == mid]
        if not same:
            continue
        means = (
            pl.scan_parquet(results)
            .filter((pl.col("status") == "ok") & pl.col("model").is_in(same)
                    & pl.col("completion_tokens").is_not_null())
            .group_by("model", "dataset")
            .agg(pl.col("completion_tokens").mean().alias("mean"))
            .collect()
        )
        if means.height:
            return folder.name, {(r["model"], r["dataset"]): float(r["mean"])
                                 for r in means.iter_rows(named=True)}
    return None, {}


def _limits(cfg: Config, mi: int, facts: ModelFacts | None) -> tuple[int | None, int | None,
                                                                    str, float]:
    """(rpm, tpm, where they come from or why none, spacing margin) for model `mi`."""
    m, kind = cfg.models[mi], cfg.provider.kind
    client = cfg.run.rate_limits if cfg.run.rate_limits is not None else kind == "heroku"
    server = kind == "heroku" or (kind == "local" and cfg.provider.emulator.enforce_rate_limits)
    margin = MARGIN if client or m.rpm or m.tpm else 1.0
    published = facts if (client or server) and facts else None
    rpm = m.rpm or (published.rpm if published else None)
    tpm = m.tpm or (published.tpm if published else None)
    if m.rpm or m.tpm:
        return rpm, tpm, "config (models.rpm / tpm)", margin
    if published and (rpm or tpm):
        return rpm, tpm, "published limits", margin
    if kind == "local":
        why = "no limit applies: the emulator enforces none (provider.emulator.enforce_rate_limits)"
    elif facts is None:
        why = f"no published limit for {m.id!r} (set models.rpm / tpm)"
    else:
        why = "no limit set (run.rate_limits is off; set models.rpm / tpm)"
    return None, None, why, margin


def _pace(model: str, requests: int, tokens: int, rpm: int | None, tpm: int | None,
          why: str, margin: float) -> ModelPace:
    walls = []
    if rpm and requests:  # the first request goes at once, then one every 60/rpm seconds
        walls.append((requests - 1) * RATE_WINDOW_S * margin / rpm)
    if tpm and tokens:
        walls.append(tokens * RATE_WINDOW_S * margin / tpm)
    return ModelPace(model, requests, tokens, rpm, tpm, why, max(walls) if walls else None)


def estimate(loaded: LoadedConfig, *, run_id: str | None = None,
             plan: Plan | None = None) -> Estimate:
    """Estimate a config's run (or, with run_id, what that run folder still has to send);
    `plan`: one already checked (validate's), so the datasets are not validated twice."""
    cfg = loaded.config
    if plan is None:
        plan = Plan(loaded)
        plan.check()
    est = Estimate(str(loaded.path), cfg.name, cfg.provider.kind, cfg.provider.kind == "local",
                   [], [], max_cost_usd=cfg.run.max_cost_usd)
    items: Iterator[WorkItem] = plan.items()
    if run_id is not None:
        items = _remaining(est, Path(cfg.output_dir), run_id, items, plan)
    facts = [CATALOG.get(m.id) for m in cfg.models]
    rates: list[Rate | None] = [
        rate_for(m.id, (m.price.input, m.price.output) if m.price else None) for m in cfg.models
    ]
    cells: dict[tuple[int, str], Cell] = {}
    for mi, m in enumerate(cfg.models):  # table order: models, then datasets
        for d in plan.datasets:
            cells[mi, d.name] = Cell(m.name, m.id, d.name)
    local = cfg.provider.kind == "local"
    source, means = (None, {}) if local else _previous_means(cfg)
    emu = cfg.provider.emulator
    if local:
        from pipeline.emulator.offline import answer_tokens
    judges = _Judges(cfg, plan, local) if plan.scorers.judge_ids else None
    for item in items:
        if judges is not None:
            judges.add(item, worst_case_output(item.body, facts[item.model_index]))
        cell = cells[item.model_index, item.sample.dataset]
        body, f, rate = item.body, facts[item.model_index], rates[item.model_index]
        prompt = estimate_prompt(body["messages"], body.get("tools"))
        out_cap = worst_case_output(body, f)
        cell.items += 1
        cell.prompt_tokens += prompt
        cell.prompt_tokens_worst += worst_case_prompt(body["messages"], body.get("tools"))
        if cell.completion_tokens_worst is not None:
            cell.completion_tokens_worst = None if out_cap is None else (
                cell.completion_tokens_worst + out_cap)
        if rate is None:
            cell.cost_worst_usd = cell.cost_expected_usd = None
        elif out_cap is None:
            cell.cost_worst_usd = None
        elif cell.cost_worst_usd is not None:
            cell.cost_worst_usd += worst_case_cost(body, rate, f)
        expected: float | None
        if local:
            answer = answer_tokens(body, seed=emu.seed, draw=item.epoch - 1,
                                   accept_any_model=emu.accept_any_model)
            expected = float(answer or 0)
            if answer is None:
                cell.refused += 1
                prompt = 0  # a refused request is not billed
            cell.expected_source = EMULATOR
        elif (item.model, item.sample.dataset) in means:
            mean = means[item.model, item.sample.dataset]
            expected = mean if out_cap is None else min(mean, float(out_cap))
            cell.expected_source, cell.expected_mean = f"run {source}", mean
        else:
            expected = None
        if expected is None:
            cell.completion_tokens_expected = cell.cost_expected_usd = None
            continue
        if cell.completion_tokens_expected is not None:
            cell.completion_tokens_expected += expected
        if cell.cost_expected_usd is not None and rate is not None:
            cell.cost_expected_usd += rate.cost(prompt, expected)
    est.cells = list(cells.values()) + (judges.cells() if judges is not None else [])
    for mi, m in enumerate(cfg.models):
        mine = [c for c in est.cells if c.model == m.name]
        tokens = sum(c.prompt_tokens + int(c.completion_tokens_expected or 0) for c in mine)
        rpm, tpm, why, margin = _limits(cfg, mi, facts[mi])
        pace = _pace(m.name, sum(c.items for c in mine), tokens, rpm, tpm, why, margin)
        pace.output_known = all(c.completion_tokens_expected is not None for c in mine)
        est.paces.append(pace)
    refused = sum(c.refused for c in est.cells)
    if refused:
        est.notes.append(f"the emulator would refuse {refused} requests (400: see pipeline "
                         "validate); they count no cost")
    if any(r is None for r in rates):
        unpriced = ", ".join(m.name for m, r in zip(cfg.models, rates, strict=True) if r is None)
        est.notes.append(f"no price for {unpriced}: its cost is unknown (set models.price)")
    return est


class _Judges:
    """The judge's requests of the items estimated: a row per judge model and dataset, one
    request per answer and judge scorer. Worst case: the rubric over the item's prompt and
    target with an answer as long as its max_tokens (every byte a token), and the judge's
    whole max_tokens; expected: on the emulator, its judge reply's length, else unknown (no
    earlier run tells a judge's reply length)."""

    def __init__(self, cfg: Config, plan: Plan, local: bool) -> None:
        from pipeline.judging import judged

        self.todo = judged(plan.scorers)
        self.models = cfg.judge_models()
        self.local, self.emu = local, cfg.provider.emulator
        self._cells: dict[tuple[str, str], Cell] = {}

    def add(self, item: WorkItem, answer_cap: int | None) -> None:
        from pipeline.scoring import judge as rubric

        for _, options in self.todo.get(item.sample.dataset, []):
            model = self.models[options["model"]]
            key = (model.name, item.sample.dataset)
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = Cell(f"{model.name} (judge)", model.id,
                                               item.sample.dataset)
            asked = rubric.render(options, item.body["messages"],
                                  {"output_text": "", "target": item.sample.target,
                                   "choices": item.sample.choices})
            body = rubric.body(options, model.id, asked)
            rate = rate_for(model.id, (model.price.input, model.price.output)
                            if model.price else None)
            facts = CATALOG.get(model.id)
            out_cap = worst_case_output(body, facts)
            cell.items += 1
            cell.prompt_tokens += estimate_prompt(asked)
            worst_prompt = worst_case_prompt(asked) + (answer_cap or 0)
            cell.prompt_tokens_worst += worst_prompt
            if cell.completion_tokens_worst is not None:
                cell.completion_tokens_worst = None if out_cap is None else (
                    cell.completion_tokens_worst + out_cap)
            if rate is None or out_cap is None or answer_cap is None:
                cell.cost_worst_usd = None if rate is None or out_cap is None or \
                    answer_cap is None else cell.cost_worst_usd
            elif cell.cost_worst_usd is not None:
                cell.cost_worst_usd += rate.cost(worst_prompt, out_cap)
            if not self.local:
                cell.completion_tokens_expected = cell.cost_expected_usd = None
                continue
            from pipeline.emulator.offline import answer_tokens

            kw = {"seed": self.emu.seed, "accept_any_model": self.emu.accept_any_model}
            expected = float(answer_tokens(body, **kw) or 0)
            # the rubric shows the answer: the emulator's answer to the item, in its tokens
            shown = float(answer_tokens(item.body, draw=item.epoch - 1, **kw) or 0)
            cell.prompt_tokens += int(shown)
            cell.expected_source = EMULATOR
            if cell.completion_tokens_expected is not None:
                cell.completion_tokens_expected += expected
            if cell.cost_expected_usd is not None and rate is not None:
                cell.cost_expected_usd += rate.cost(estimate_prompt(asked) + shown, expected)
            elif rate is None:
                cell.cost_expected_usd = None

    def cells(self) -> list[Cell]:
        return list(self._cells.values())


def _remaining(est: Estimate, output_dir: Path, run_id: str,
               items: Iterator[WorkItem], plan: Plan) -> Iterator[WorkItem]:
    """The items a run folder has not finished; records what it has done and spent."""
    from pipeline.errors import RunStateError
    from pipeline.resume import done_index
    from pipeline.runfolder import check_run_id, read_manifest

    folder = output_dir / check_run_id(run_id)
    manifest = read_manifest(folder)
    if manifest is None:
        raise RunStateError(f"--run-id {run_id}: no run folder {folder} (leave --run-id out to "
                            "estimate the whole config)")
    if manifest.get("name") != est.name:
        raise RunStateError(f"{folder}: belongs to config {manifest.get('name')!r}, not "
                            f"{est.name!r}")
    index = done_index(folder)
    est.remaining_of, est.spent_usd = run_id, index.spent_usd
    if plan.scorers.judge_ids:  # what its judge spent, and what it still owes answers made
        from pipeline.judging import Verdicts, count_pending, judge_config

        verdicts = Verdicts(folder, plan.scorers.judge_ids)
        est.spent_usd += verdicts.spent_usd
        jcfg = judge_config(plan.loaded.config)
        owed = count_pending(folder, plan.scorers, verdicts, jcfg.models) if jcfg else 0
        if owed:
            est.notes.append(f"{owed:,} judge requests for answers already made are not "
                             "in the table (they are sent before anything new)")
    for item in items:
        if index.key_done(item.key):
            est.already_done += 1
        else:
            yield item


# -- text -------------------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    """A wall time as text: 45s, 2m 08s, 1h 04m."""
    if seconds is None:
        return "no limit"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _usd(value: float | None) -> str:
    from pipeline.report.sections import fmt

    return "unknown" if value is None else fmt(value, "usd")


def _tok(value: float | None) -> str:
    return "unknown" if value is None else f"{round(value):,}"


def one_line(est: Estimate) -> str:
    """The totals in one line (what `validate` prints)."""
    sim = " (simulated: built-in emulator)" if est.simulated else ""
    return (f"estimate{sim}: {est.items:,} items, ~{est.prompt_tokens:,} prompt tokens, "
            f"expected {_usd(est.cost_expected_usd)}, worst case {_usd(est.cost_worst_usd)}, "
            + (f"at least {duration(est.min_wall_s)} at the rate limits"
               if est.min_wall_s is not None else "no rate limit applies")
            + " (details: pipeline estimate)")


def render(est: Estimate) -> str:
    """The estimate as a table and a few lines of text."""
    from pipeline.report.text import render_columns

    lines = [f"estimate of {est.config} (nothing was sent)"]
    if est.simulated:
        lines.append("SIMULATED: provider.kind = \"local\" runs the built-in emulator, not a real "
                     "model; nothing is billed, and costs are its simulated tokens at list prices")
    if est.remaining_of:
        lines.append(f"only what run {est.remaining_of} still has to send: {est.already_done:,} "
                     f"items are done, {_usd(est.spent_usd)} spent there")
    lines.append("")
    headers = ["model", "dataset", "expected from", "items", "prompt tok", "out tok expected",
               "out tok worst", "cost expected", "cost worst"]
    rows = [[c.model, c.dataset, _source(c), f"{c.items:,}", f"{c.prompt_tokens:,}",
             _tok(c.completion_tokens_expected), _tok(c.completion_tokens_worst),
             _usd(c.cost_expected_usd), _usd(c.cost_worst_usd)]
            for c in est.cells]
    rows.append(["total", "", "", f"{est.items:,}", f"{est.prompt_tokens:,}",
                 _tok(est.completion_tokens_expected), _tok(est.completion_tokens_worst),
                 _usd(est.cost_expected_usd), _usd(est.cost_worst_usd)])
    lines.append(render_columns(headers, rows, left=3))
    lines.append("")
    lines.append("worst case: every prompt byte a token (+256 for the chat template) and the "
                 "whole max_tokens (or the model's output cap), as run.max_cost_usd reserves")
    for p in est.paces:
        if p.min_wall_s is None:
            lines.append(f"{p.model}: {p.limits}")
            continue
        parts = []
        if p.rpm:
            parts.append(f"{p.requests:,} requests at {p.rpm:,}/min")
        if p.tpm:
            what = "tokens" if p.output_known else "prompt tokens (output unknown)"
            parts.append(f"~{p.tokens:,} {what} at {p.tpm:,}/min")
        lines.append(f"{p.model}: at least {duration(p.min_wall_s)} ({'; '.join(parts)}; "
                     f"{p.limits})")
    if est.min_wall_s is None:
        lines.append("shortest wall time: no rate limit applies")
    else:
        lines.append(f"shortest wall time: {duration(est.min_wall_s)} at the rate limits (models "
                     "send in parallel; latency not counted)")
    if est.max_cost_usd is not None:
        left = est.max_cost_usd - est.spent_usd
        cap = f"run.max_cost_usd {_usd(est.max_cost_usd)}" + (
            f" ({_usd(left)} left)" if est.spent_usd else "")
        if est.budget_fits is None:
            lines.append(f"budget: {cap}; the worst case is unknown")
        elif est.budget_fits:
            lines.append(f"budget: {cap}: the worst case {_usd(est.cost_worst_usd)} fits; the "
                         "budget cannot stop this run")
        else:
            expected = est.cost_expected_usd
            hint = "" if expected is None else (
                f"; the expected {_usd(expected)} "
                + ("fits" if est.spent_usd + expected <= est.max_cost_usd else "does not fit"))
            lines.append(f"budget: {cap}: the worst case {_usd(est.cost_worst_usd)} does not fit: "
                         f"the run may stop at the budget (exit 3) before every item is sent"
                         f"{hint}; lower max_tokens or raise max_cost_usd")
    lines += [f"note: {n}" for n in est.notes]
    return "\n".join(lines)


def _source(c: Cell) -> str:
    if c.expected_source == EMULATOR:
        return "the emulator's answers" + (f" ({c.refused} refused)" if c.refused else "")
    if c.expected_mean is not None:
        return f"{c.expected_source}: mean {c.expected_mean:.1f}"
    return "unknown: no earlier run"
