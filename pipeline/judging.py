"""LLM-judge requests of a run: which answers still need a verdict, the judge journal, and the
verdicts as scores.

A dataset with `{ name = "judge", model = ..., rubric = ... }` among its scorers has each of
its answers graded by the judge model. Judge requests are sent after the run's own (the
runner's second phase, or `pipeline score RUN_FOLDER`) through the same sender: the judge
model's rate limits, the run's concurrency and its budget. Each finished judge request is
one line of `judge.jsonl` beside the journal (the same record schema, with the judge's
prompt as its `messages`; `judged_key` names the answer judged and `scorer` the column), so
a judge request is paid for once: a resume or a re-score sends only those with no final
record, found by streaming passes over the journal (one to count them for the progress
line, one to send them).

Scoring reads verdicts by key (`Verdicts`: judge key digest -> where its latest record is,
a few dozen bytes per verdict), so the judge's columns are filled without reading the
journal again (`results.refresh_parts` rewrites only those columns of the result rows after
a judge phase).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.journal import JOURNAL_NAME, iter_journal, sources
from pipeline.records import is_final, key_digest, scorer_column, spent_of
from pipeline.scoring import judge as rubric

if TYPE_CHECKING:
    from pipeline.client import Endpoint
    from pipeline.config import Config, Model, ResolvedEndpoint, ScorerSpec
    from pipeline.work import WorkItem

JUDGE_JOURNAL = "judge.jsonl"
JUDGE = "judge"  # the built-in scorer's name


def is_judge(spec: ScorerSpec) -> bool:
    return spec.name == JUDGE


def judged(specs: Mapping[str, list[ScorerSpec]]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Dataset -> its judge scorers as (column suffix, options with defaults), for datasets
    that have any."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, dataset_specs in specs.items():
        for i, spec in enumerate(dataset_specs):
            if is_judge(spec):
                out.setdefault(name, []).append(
                    (scorer_column(spec, i, dataset_specs), spec.resolved()[2]))
    return out


class Verdicts:
    """The judge records of a run folder (its judge.jsonl and each shard's), by key: where
    the latest record of each judge request is and whether it is final (one int per verdict:
    ~100 bytes with the dict's share; a record is read from its file when asked for), and
    what they cost. `ids` maps a judge's `model` option to the model id it names (the key
    hashes the id)."""

    MAX_SOURCES = 1024  # journals told apart in a position (the run folder and its shards)

    def __init__(self, folder: Path, ids: Mapping[str, str] | None = None) -> None:
        self.ids = dict(ids or {})
        self.paths: list[Path] = []
        # digest -> start * MAX_SOURCES + path index, negated (minus one) when not final
        self._where: dict[int, int] = {}
        self._fds: dict[int, int] = {}
        self.records = self.attempts = 0
        self.spent_usd = 0.0  # what budgets count (estimated usage: its worst case)
        self.cost_usd = 0.0  # what the judge cost (the figure tables show)
        self.unpriced = 0  # answered judge requests of a model without a price
        self.estimated = 0  # answered judge requests whose usage was estimated
        for src in sources(folder):
            path = src / JUDGE_JOURNAL
            if not path.exists():
                continue
            self.paths.append(path)
            p = len(self.paths) - 1
            start = 0
            for rec, end in iter_journal(path):
                at = start * self.MAX_SOURCES + p
                self._where[key_digest(rec["key"])] = at if is_final(rec) else -at - 1
                start = end
                self.records += 1
                self.attempts += int(rec.get("attempts") or 0)
                self.spent_usd += spent_of(rec)
                self.cost_usd += rec.get("cost_usd") or 0.0
                if rec.get("status") == "ok":
                    self.unpriced += rec.get("cost_usd") is None
                    self.estimated += bool(rec.get("usage_estimated"))

    def record(self, key: str) -> dict[str, Any] | None:
        """The latest record of judge request `key`, or None if it was never sent."""
        at = self._where.get(key_digest(key))
        if at is None:
            return None
        if at < 0:
            at = -at - 1
        start, p = divmod(at, self.MAX_SOURCES)
        fd = self._fds.get(p)
        if fd is None:
            fd = self._fds[p] = os.open(self.paths[p], os.O_RDONLY)
        data, size = b"", 4096
        while not data.endswith(b"\n"):
            data = os.pread(fd, size, start)
            cut = data.find(b"\n")
            if cut >= 0:
                data = data[:cut + 1]
            elif len(data) < size:
                break  # cannot happen for a complete line: read what there is
            size *= 4
        rec: dict[str, Any] = json.loads(data)
        return rec if rec.get("key") == key else None

    def done(self, key: str) -> bool:
        """Whether judge request `key` needs no new request (its latest record is final)."""
        at = self._where.get(key_digest(key))
        return at is not None and at >= 0

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()

    def model_id(self, options: Mapping[str, Any]) -> str:
        return self.ids.get(options["model"], options["model"])


class JudgeScorer:
    """A judge scorer of one dataset, ready to score records from their verdicts."""

    by_record = True  # records.score_record hands it the record, not an Output

    def __init__(self, verdicts: Verdicts, options: dict[str, Any]) -> None:
        self.verdicts, self.options = verdicts, options
        self.model_id = verdicts.model_id(options)

    def key(self, judged_key: str) -> str:
        return rubric.judge_key(judged_key, self.model_id, self.options)

    def score(self, rec: Mapping[str, Any]) -> tuple[float | None, str | None, str | None]:
        """(score, grade, explanation) of an answered record; no score when there is no
        verdict (not judged yet, the judge request failed, or its reply has no grade)."""
        got = self.verdicts.record(self.key(rec["key"]))
        if got is None:
            return None, None, rubric.NOT_JUDGED
        if got.get("status") != "ok":
            why = f"{got.get('error_type')}: {(got.get('error_message') or '')[:300]}"
            return None, None, ("judge error: " if is_final(got) else
                                f"{rubric.NOT_JUDGED} (last attempt: ") + why + (
                                    "" if is_final(got) else ")")
        text = got.get("output_text") or ""
        value, grade = rubric.grade(text, self.options)
        if value is None:
            if grade is not None:
                said = f"the grade {grade!r} is not one of {', '.join(self.options['grades'])}"
            elif got.get("finish_reason") == "length":
                said = (f"{rubric.CUT} by its max_tokens ({self.options['max_tokens']}) "
                        "before a grade")
            else:
                said = "the judge's reply has no grade"
            return None, grade, f"{said}: {text[-300:]}"
        return value, grade, text[:2000]


class _Prompts:
    """The request messages of each sample, for records that do not carry their own (runs
    journaled before a judge was configured: only each sample's first record has them).
    Built on first need by one pass over the journal, for the judged datasets only."""

    def __init__(self, folder: Path, datasets: set[str]) -> None:
        self.folder, self.datasets = folder, datasets
        self._by_sample: dict[tuple[str, str], list[dict[str, Any]]] | None = None

    def get(self, dataset: str, sample_id: str) -> list[dict[str, Any]] | None:
        if self._by_sample is None:
            self._by_sample = {}
            for src in sources(self.folder):
                for rec, _ in iter_journal(src / JOURNAL_NAME):
                    if rec.get("messages") and rec.get("dataset") in self.datasets:
                        self._by_sample.setdefault((rec["dataset"], rec["sample_id"]),
                                                   rec["messages"])
        return self._by_sample.get((dataset, sample_id))


def pending(folder: Path, specs: Mapping[str, list[ScorerSpec]], verdicts: Verdicts,
            models: list[Model], allowed: set[int] | None = None,
            unprompted: list[int] | None = None) -> Iterator[WorkItem]:
    """The judge requests not made yet (no final record in judge.jsonl), one per answered
    record of a judged dataset and judge scorer, in journal order, streamed. `models` are the
    judge models in the judge phase's order; `allowed`: only records whose key digest is in
    it (a plan whose requests changed: answers it no longer makes are not judged). An answer
    whose rubric needs a prompt the journal does not hold (journaled before its judge was
    configured, and its sample's first request not answered yet) is left for later and
    counted in `unprompted[0]`."""
    from pipeline.datasets import Sample
    from pipeline.work import WorkItem

    todo = judged(specs)
    if not todo:
        return
    index = {m.name: i for i, m in enumerate(models)}
    by_id = {m.id: i for i, m in enumerate(models)}
    prompts = _Prompts(folder, set(todo))
    made: set[int] = set()  # judge key digests yielded: ~70 bytes per judge request
    for src in sources(folder):
        for rec, _ in iter_journal(src / JOURNAL_NAME):
            dataset = rec.get("dataset")
            if dataset not in todo or rec.get("status") != "ok":
                continue
            if allowed is not None and key_digest(rec["key"]) not in allowed:
                continue
            for col, options in todo[dataset]:
                model_id = verdicts.model_id(options)
                key = rubric.judge_key(rec["key"], model_id, options)
                digest = key_digest(key)
                if digest in made or verdicts.done(key):
                    continue
                made.add(digest)  # once a phase, even if an answer were journaled twice
                messages = rec.get("messages")
                if messages is None and rubric.needs_prompt(options):
                    messages = prompts.get(dataset, rec["sample_id"])
                    if messages is None:  # not journaled yet: judged once it is
                        if unprompted is not None:
                            unprompted[0] += 1
                        continue
                mi = index.get(options["model"], by_id.get(model_id, 0))
                model = models[mi]
                asked = rubric.render(options, messages, rec)
                sample = Sample(dataset, rec["sample_id"], asked)
                yield WorkItem(key, int(rec.get("position") or 0), sample, model.name, mi,
                               int(rec.get("epoch") or 1),
                               rubric.body(options, model.id, asked), judged=True,
                               extra={"judged_key": rec["key"], "judged_model": rec.get("model"),
                                      "scorer": col})


def count_pending(folder: Path, specs: Mapping[str, list[ScorerSpec]], verdicts: Verdicts,
                  models: list[Model], allowed: set[int] | None = None) -> int:
    """How many judge requests `pending` would yield."""
    return sum(1 for _ in pending(folder, specs, verdicts, models, allowed))


def judge_config(cfg: Config) -> Config | None:
    """The config the judge phase sends with: the run's, its models the judges (each once);
    None when no dataset has a judge. (A shard's: see shards.judge_share.)"""
    models: list[Model] = []
    for m in cfg.judge_models().values():
        if all(m.name != k.name for k in models):
            models.append(m)
    return cfg.model_copy(update={"models": models}) if models else None


def judge_where(cfg: Config, name: str) -> str:
    """The field path of the first judge scorer naming model `name`."""
    for i, ds in enumerate(cfg.datasets):
        for j, spec in enumerate(ds.scorers):
            if spec.name == JUDGE and (spec.__pydantic_extra__ or {}).get("model") == name:
                return f"datasets[{i}].scorers[{j}].model"
    return "datasets.scorers.model"


def check_judges(cfg: Config, env: Mapping[str, str] | None, source: str
                 ) -> tuple[list[ResolvedEndpoint] | None, list[tuple[str, str]]]:
    """The judge models' endpoints (None on the local emulator, whose one server answers
    every model) and every problem with them: a model the emulator does not serve, a URL or
    key missing from the environment. Checked before anything is sent, so a run never pays
    for answers it then cannot have judged."""
    from pipeline.catalog import CATALOG
    from pipeline.config import resolve_endpoint
    from pipeline.errors import ConfigError

    jcfg = judge_config(cfg)
    if jcfg is None:
        return None, []
    problems: list[tuple[str, str]] = []
    byname = {m.name: n for n, m in cfg.judge_models().items()}
    models = cfg.judge_models()
    for i, ds in enumerate(cfg.datasets):
        for j, spec in enumerate(ds.scorers):
            if spec.name != JUDGE:
                continue
            options = spec.resolved()[2]
            facts = CATALOG.get(models[options["model"]].id)
            cap = facts.max_output_tokens if facts else None
            if cap is not None and options["max_tokens"] > cap:
                problems.append((f"{source}: datasets[{i}].scorers[{j}].max_tokens",
                                 f"{options['max_tokens']} exceeds {facts.model_id}'s limit "
                                 f"of {cap}"))
    if cfg.provider.kind == "local":
        for m in jcfg.models:
            if m.id not in CATALOG and not cfg.provider.emulator.accept_any_model:
                problems.append((f"{source}: {judge_where(cfg, byname[m.name])}",
                                 f"the emulator serves no model {m.id!r} (known: "
                                 f"{', '.join(sorted(CATALOG))})"))
        return None, problems
    out = []
    for i, m in enumerate(jcfg.models):
        try:
            out.append(resolve_endpoint(jcfg, i, env, source=source))
        except ConfigError as exc:
            where = f"{source}: {judge_where(cfg, byname[m.name])} (the judge {m.name!r})"
            problems.append((where, f"{exc.problem} ({exc.hint})" if exc.hint else exc.problem))
    return (out if not problems else None), problems


def judge_endpoints(resolved: list[ResolvedEndpoint] | None, run_endpoints: list[Endpoint],
                    count: int) -> list[Endpoint]:
    """The judge models' endpoints: resolved ones, or on the emulator its one server."""
    from pipeline.client import Endpoint as _Endpoint

    if resolved is None:
        first = run_endpoints[0]
        return [_Endpoint(base_url=first.base_url, api_key=first.api_key) for _ in range(count)]
    return [_Endpoint(base_url=r.base_url, api_key=r.api_key, headers=r.headers)
            for r in resolved]
