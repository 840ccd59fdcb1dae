"""Checks that can be made without sending a paid request: environment, model ids, output
caps, extended-thinking rules, and each prompt against the model's context window.

`run` makes the config-level checks before sending anything, and refuses (without sending)
an item whose prompt cannot fit; `validate` makes every check over every sample, and with
`--online` asks the endpoint which models it serves (a free GET)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.catalog import CATALOG, ModelFacts
from pipeline.config import Config, Generation, ResolvedEndpoint, resolve_endpoint
from pipeline.errors import ConfigError
from pipeline.plan import Plan
from pipeline.tokens import estimate_prompt
from pipeline.work import WorkItem

MAX_LISTED = 10  # problems of one kind listed before "and N more"


@dataclass(slots=True)
class Findings:
    """Problems (the run must not start) and warnings (worth a line) found by the checks."""

    problems: list[tuple[str, str]]
    warnings: list[str]

    def raise_if_any(self) -> None:
        """Raise one ConfigError listing every problem."""
        if self.problems:
            raise ConfigError.many(self.problems)


def resolve_endpoints(cfg: Config, env: Mapping[str, str] | None, source: str
                      ) -> tuple[list[ResolvedEndpoint] | None, list[tuple[str, str]]]:
    """Every model's URL and key from the environment, and every problem doing so."""
    if cfg.provider.kind == "local":
        return None, []
    out, problems = [], []
    for i in range(len(cfg.models)):
        try:
            out.append(resolve_endpoint(cfg, i, env, source=source))
        except ConfigError as exc:
            problems.append((exc.where, f"{exc.problem} ({exc.hint})" if exc.hint else exc.problem))
    return (out if not problems else None), _dedupe(problems)


def _model_facts(cfg: Config, index: int) -> ModelFacts | None:
    return CATALOG.get(cfg.models[index].id)


def check_config(plan: Plan, source: str) -> Findings:
    """Model ids, output caps and extended-thinking rules, per model and dataset."""
    cfg = plan.loaded.config
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    kind = cfg.provider.kind
    for i, m in enumerate(cfg.models):
        facts = _model_facts(cfg, i)
        if facts is None and kind == "local":
            known = ", ".join(sorted(CATALOG))
            problems.append((f"{source}: models[{i}].id",
                             f"the emulator serves no model {m.id!r} (known: {known})"))
        elif facts is None and kind == "heroku":
            warnings.append(f"models[{i}].id {m.id!r} is not in this pipeline's catalogue "
                            "(no published limits or price); `pipeline validate --online` asks "
                            "Heroku which models it serves")
    for d in plan.datasets:
        for i, m in enumerate(cfg.models):
            gen = d.generations[i]
            where = f"{source}: datasets[{d.index}] ({d.name}) with models[{i}] ({m.name})"
            for msg in generation_problems(gen, _model_facts(cfg, i), kind,
                                           budget=cfg.run.max_cost_usd is not None):
                problems.append((where, msg))
    return Findings(_dedupe(problems), warnings)


def generation_problems(gen: Generation, facts: ModelFacts | None, kind: str, *,
                        budget: bool) -> list[str]:
    """What is wrong with one merged set of generation settings for one model."""
    out = []
    cap = facts.max_output_tokens if facts else None
    if facts is not None and cap is not None and gen.max_tokens is not None \
            and gen.max_tokens > cap:
        out.append(f"max_tokens {gen.max_tokens} exceeds {facts.model_id}'s limit of {cap}")
    if budget and gen.max_tokens is None and cap is None:
        out.append("run.max_cost_usd needs generation.max_tokens for a model without a known "
                   "output limit (to bound each request's cost before it is sent)")
    thinking = gen.extended_thinking
    if thinking is not None and thinking.enabled and kind in ("heroku", "local"):
        limit = gen.max_tokens if gen.max_tokens is not None else cap
        if limit is not None and thinking.budget_tokens >= limit:
            out.append(f"extended_thinking.budget_tokens {thinking.budget_tokens} must be less "
                       f"than max_tokens ({limit})")
        if gen.temperature is not None and gen.temperature != 1.0:
            out.append("extended_thinking needs temperature = 1 (Heroku refuses other values)")
        if gen.top_p is not None:
            out.append("extended_thinking does not take top_p")
    if gen.temperature is not None and gen.top_p is not None and kind in ("heroku", "local") \
            and facts is not None and facts.model_id.startswith("claude-"):
        out.append("temperature and top_p cannot both be set for Claude models")
    return out


def _dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One line per distinct problem text: a model's cap reported once, not per dataset."""
    seen: dict[str, str] = {}
    for where, msg in problems:
        if msg not in seen:
            seen[msg] = where
    return [(w, m) for m, w in seen.items()]


def context_problem(item: WorkItem, facts: ModelFacts | None) -> str | None:
    """Why this item's prompt cannot fit the model's context window, if it cannot."""
    if facts is None or facts.context_window is None:
        return None
    body = item.body
    out = body.get("max_tokens") or body.get("max_completion_tokens") or \
        facts.max_output_tokens or 0
    room = facts.context_window - out
    # Cheap first: four characters a token means fewer characters than 4 * room always fit.
    chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or ())
    if body.get("tools"):
        chars += len(json.dumps(body["tools"]))
    if chars < 3 * room:
        return None
    prompt = estimate_prompt(body.get("messages") or (), body.get("tools"))
    if prompt <= room:
        return None
    return (f"prompt of about {prompt:,} tokens plus max_tokens {out:,} exceeds "
            f"{facts.model_id}'s context window of {facts.context_window:,} tokens")


def check_samples(plan: Plan, source: str) -> Findings:
    """Every planned item's prompt against its model's context window (one pass)."""
    cfg = plan.loaded.config
    facts = [_model_facts(cfg, i) for i in range(len(cfg.models))]
    problems: list[tuple[str, str]] = []
    extra = 0
    seen: set[tuple[str, str, int]] = set()
    for item in plan.items():
        if item.epoch != 1:
            continue
        msg = context_problem(item, facts[item.model_index])
        if msg is None:
            continue
        key = (item.sample.dataset, item.sample.sample_id, item.model_index)
        if key in seen:
            continue
        seen.add(key)
        if len(problems) < MAX_LISTED:
            problems.append((f"{source}: dataset {item.sample.dataset!r} sample "
                             f"{item.sample.sample_id!r} ({item.model})", msg))
        else:
            extra += 1
    if extra:
        problems.append((f"{source}", f"and {extra} more prompts too long for their model"))
    return Findings(problems, [])


def available_models(base_url: str, key: str, kind: str, timeout_s: float = 15.0) -> list[str]:
    """The model ids an endpoint serves: Heroku's GET /available-models, else GET /v1/models."""
    import httpx

    base = base_url.rstrip("/")
    if kind == "heroku":
        url = base.removesuffix("/v1") + "/available-models"
    else:
        url = (base if base.endswith("/v1") else base + "/v1") + "/models"
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        r = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ConfigError(url, f"cannot list the endpoint's models ({type(exc).__name__})",
                          "check the URL and the network") from None
    if r.status_code != 200:
        raise ConfigError(url, f"listing the endpoint's models gave HTTP {r.status_code}",
                          "check the key and URL")
    try:
        data: Any = r.json()
    except ValueError:
        raise ConfigError(url, "the model list is not JSON") from None
    if isinstance(data, dict):
        data = data.get("data") or data.get("models") or []
    ids = []
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict):
            ident = entry.get("model_id") or entry.get("id")
            if isinstance(ident, str):
                ids.append(ident)
        elif isinstance(entry, str):
            ids.append(entry)
    return ids


def check_online(cfg: Config, resolved: list[ResolvedEndpoint], source: str) -> Findings:
    """Ask each endpoint which models it serves; a model it does not list is a problem on
    Heroku and a warning elsewhere (a local llama.cpp answers any id with its own model)."""
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    listed: dict[str, list[str]] = {}
    for i, (m, r) in enumerate(zip(cfg.models, resolved, strict=True)):
        if r.base_url not in listed:
            listed[r.base_url] = available_models(r.base_url, r.api_key, cfg.provider.kind)
        ids = listed[r.base_url]
        if m.id not in ids:
            msg = (f"the endpoint does not serve {m.id!r} (it lists: "
                   f"{', '.join(ids[:12]) or 'nothing'})")
            if cfg.provider.kind == "heroku":
                problems.append((f"{source}: models[{i}].id", msg))
            else:
                warnings.append(f"models[{i}].id: {msg}")
    return Findings(problems, warnings)
