"""The run config: TOML loading, the pydantic schema, and validation errors with field paths."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.catalog import RATE_WINDOW_S
from pipeline.errors import ConfigError
from pipeline.pricing import rate_for
from pipeline.sample_schema import CANONICAL_FIELDS, template_fields

DEFAULT_OUTPUT_DIR = "reports"
_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_GROUP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .-]*")  # read by a JSON path: no quotes


class _Strict(BaseModel):
    """Base for config tables: unknown keys are errors, and values are never coerced
    ("0.5" is not a number, "yes" is not a boolean); integers are accepted as floats."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ExtendedThinking(_Strict):
    """Heroku's `extended_thinking` request object."""

    enabled: bool = True
    budget_tokens: int = Field(default=1024, ge=1024)
    include_reasoning: bool = True


class Generation(_Strict):
    """Generation settings; each level (run, model, dataset, row) overrides the one before."""

    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: list[str] | None = None
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    extended_thinking: ExtendedThinking | None = None
    extra: dict[str, Any] | None = None  # passed through into the request body as is

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(cls, v: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(v, str) and v not in ("none", "auto", "required"):
            raise ValueError("must be 'none', 'auto', 'required' or {type='function', ...}")
        return v

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for i, tool in enumerate(v or []):
            fn = tool.get("function")
            if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
                raise ValueError(f"tools[{i}] needs type = 'function' and function.name")
        return v

    def merged(self, other: Generation | None) -> Generation:
        """Return self overridden by the fields `other` sets (values keep their types)."""
        if other is None:
            return self
        update = {
            name: getattr(other, name) for name in other.model_fields_set
            if getattr(other, name) is not None
        }
        return self.model_copy(update=update) if update else self


class Price(_Strict):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class Model(_Strict):
    """One model to evaluate."""

    id: Annotated[str, Field(min_length=1)]
    label: str | None = None  # shown in tables; defaults to id
    base_url: str | None = None
    url_env: str | None = None
    key_env: str | None = None
    price: Price | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    generation: Generation | None = None

    @property
    def name(self) -> str:
        """The model's name in tables and reports."""
        return self.label or self.id


class FaultsConfig(_Strict):
    """Fault rates of the local emulator (probability per request)."""

    rate_429: float = Field(default=0.0, ge=0, le=1)
    error_500: float = Field(default=0.0, ge=0, le=1)
    error_503: float = Field(default=0.0, ge=0, le=1)
    drop: float = Field(default=0.0, ge=0, le=1)
    hang: float = Field(default=0.0, ge=0, le=1)
    truncate_stream: float = Field(default=0.0, ge=0, le=1)
    malformed: float = Field(default=0.0, ge=0, le=1)
    retry_after_s: float = Field(default=1.0, ge=0)
    hang_s: float = Field(default=30.0, ge=0)


class EmulatorSettings(_Strict):
    """How the built-in emulator behaves when provider.kind = 'local'."""

    speed: float = Field(default=0.02, ge=0)
    seed: int = 0
    faults: FaultsConfig = FaultsConfig()
    # Answer like other servers: usage always (Heroku), only when asked (OpenAI), never.
    usage: Literal["always", "requested", "never"] = "always"
    response_model: str | None = Field(default=None, min_length=1)  # as llama.cpp names it
    accept_any_model: bool = False
    enforce_rate_limits: bool = False  # 429s past each model's published limits
    rate_window_s: float = Field(default=RATE_WINDOW_S, gt=0)
    # Simulated accuracy: one for every model, or per model id ({"claude-4-5-haiku" = 0.6}),
    # in place of each model's built-in profile (e.g. to try a regression end to end).
    accuracy: float | dict[str, float] | None = None

    @field_validator("accuracy", mode="before")
    @classmethod
    def _accuracy(cls, v: Any) -> Any:
        def share(x: Any, where: str) -> float:
            if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x <= 1:
                raise ValueError(f"{where}must be a number from 0 to 1")
            return float(x)

        if v is None:
            return v
        if isinstance(v, dict):
            return {k: share(x, f"[{k!r}] = {x!r}: ") for k, x in v.items()}
        if isinstance(v, int | float) and not isinstance(v, bool):
            return share(v, "")
        raise ValueError("give one number from 0 to 1 for every model, or a table of "
                         '{ "model id" = number }')


_SECRET_HEADER = re.compile(r"(?i)authorization|cookie|key|token|secret|password")


class Provider(_Strict):
    """Where requests go: Heroku, any OpenAI-compatible endpoint, or the local emulator."""

    kind: Literal["heroku", "openai", "local"] = "local"
    base_url: str | None = None
    url_env: str | None = None
    key_env: str | None = None
    headers: dict[str, str] = {}
    prompt_caching: bool = True
    # "asyncio": pipeline.client.http11 (no httpx per request, no httpx or aiohttp import);
    # "aiohttp": httpx over httpx-aiohttp; "httpx": httpx's own pool.
    http_backend: Literal["asyncio", "aiohttp", "httpx"] = "asyncio"
    emulator: EmulatorSettings = EmulatorSettings()

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if _SECRET_HEADER.search(name):
                raise ValueError(
                    f"header {name!r} looks like a credential; config files are snapshotted "
                    "into run folders, so put keys in the environment and name them with key_env"
                )
        return v

    @model_validator(mode="after")
    def _base_url_for_openai(self) -> Provider:
        if self.kind == "openai" and not (self.base_url or self.url_env):
            raise ValueError("kind = 'openai' needs base_url (or url_env naming a variable)")
        return self


class ScorerSpec(BaseModel):
    """A scorer: a built-in or installed one by `name`, or a function of the user's by
    `function = "module:name"` (importable from the config's folder), with its options as
    further keys, validated against the scorer's options model (pipeline.scoring)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    name: str | None = Field(default=None, min_length=1)
    function: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _found(self, info: ValidationInfo) -> ScorerSpec:
        from pipeline.scoring import ScorerNotFound, resolve

        if (self.name is None) == (self.function is None):
            raise ValueError("give either name (a built-in or installed scorer) or function "
                             "('module:function' of your own), not both")
        base = (info.context or {}).get("base")
        try:
            found = resolve(self.name, self.function, base)
        except ScorerNotFound as exc:
            raise ValueError(str(exc)) from None
        options = self.__pydantic_extra__ or {}
        if found.options is None:
            if options:
                raise ValueError(f"scorer {found.name!r} takes no options (got "
                                 f"{', '.join(sorted(options))})")
        else:
            fields = [f.alias or name for name, f in
                      getattr(found.options, "model_fields", {}).items()]
            unknown = sorted(set(options) - set(fields))
            if unknown:  # even when the user's model would ignore it: a typo is an error
                raise PydanticCustomError("scorer_option", "{reason}", {
                    "field": unknown[0], "reason": f"unknown option of scorer {found.name!r} "
                    f"(its options: {', '.join(fields) or 'none'})"})
            try:
                found.options.model_validate(options)
            except ValidationError as exc:  # the first problem, at its option's path
                e = exc.errors()[0]
                raise PydanticCustomError("scorer_option", "{reason}", {
                    "field": field_path(tuple(e["loc"])), "reason": _describe(e)}) from None
        return self

    @property
    def label(self) -> str:
        """The scorer's name in result columns: its name, or the function's."""
        if self.name is not None:
            return self.name
        from pipeline.scoring import resolve

        return resolve(None, self.function).name

    def resolved(self) -> tuple[str, Any, dict[str, Any]]:
        """(name, function, options with defaults filled) for scoring."""
        from pipeline.scoring import resolve

        found = resolve(self.name, self.function)
        given = dict(self.__pydantic_extra__ or {})
        options = (found.options.model_validate(given).model_dump(by_alias=True)
                   if found.options else given)
        return found.name, found.fn, options


class Dataset(_Strict):
    """One dataset: where it is, how rows map to samples, how outputs are scored."""

    name: str = Field(pattern=_NAME_RE)
    path: str
    format: Literal["jsonl", "parquet"] | None = None  # inferred from the extension
    columns: dict[str, str] = {}  # canonical field -> column in the file
    template: str | None = None  # user prompt over the row's columns, e.g. "{question}"
    system: str | None = None
    # names ("numeric") or tables ({ name = "regex", pattern = "..." }, { function = ... });
    # [] is an outputs-only dataset: no target needed, no score, left out of accuracy.
    scorers: list[ScorerSpec] = Field(default_factory=lambda: [ScorerSpec(name="exact")])
    limit: int | None = Field(default=None, ge=1)  # the first N rows
    sample: int | None = Field(default=None, ge=1)  # N rows drawn at random (with seed)
    seed: int | None = Field(default=None, ge=0)  # of `sample`'s draw; 0 when unset
    group_by: str | None = None  # a metadata key (or a column) whose values split the tables
    generation: Generation | None = None

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key not in CANONICAL_FIELDS:
                raise ValueError(f"unknown field {key!r}; known: {', '.join(CANONICAL_FIELDS)}")
        return v

    @field_validator("template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            template_fields(v)
        return v

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorer_names(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: str | None) -> str | None:
        if v is not None and not _GROUP_RE.fullmatch(v):
            raise ValueError("must name a metadata key or column: letters, digits, _, -, . "
                             "and spaces, no quotes or brackets")
        return v

    @model_validator(mode="after")
    def _seed_needs_sample(self) -> Dataset:
        if self.seed is not None and self.sample is None:
            raise ValueError("seed: only used with sample = N (a random subset of N rows); "
                             "set sample, or remove seed")
        return self

    @property
    def outputs_only(self) -> bool:
        """Whether the dataset is only answered, never scored (`scorers = []`)."""
        return not self.scorers

    def scorer_specs(self) -> list[ScorerSpec]:
        """The dataset's scorers."""
        return list(self.scorers)


class RunSettings(_Strict):
    """How the run fans out and how hard it tries."""

    concurrency: int = Field(default=16, ge=1, le=4096)
    max_attempts: int = Field(default=6, ge=1, le=50)
    attempt_timeout_s: float = Field(default=120.0, gt=0)
    deadline_s: float = Field(default=900.0, gt=0)
    epochs: int = Field(default=1, ge=1, le=100)
    # How a sample's epochs make its score: their mean, the best (any epoch right), or the
    # most common score (majority vote; a tie goes to the lower).
    reducer: Literal["mean", "max", "majority"] = "mean"
    max_cost_usd: float | None = Field(default=None, gt=0)
    # Items ending in permanent errors above this share of the planned items fail the run.
    max_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limits: bool | None = None  # None: on for heroku, off for local/openai
    # output_dir = "s3://...": the journal is uploaded at least this often (pipeline/store.py)
    sync_interval_s: float = Field(default=30.0, gt=0, le=3600)
    # The model every other is compared with (comparison.*); None: the first model.
    reference: str | None = Field(default=None, min_length=1)


class ScoreGate(_Strict):
    """A minimum score for one model, one dataset, or one model on one dataset."""

    min: float = Field(ge=0.0, le=1.0)
    model: str | None = Field(default=None, min_length=1)
    dataset: str | None = Field(default=None, min_length=1)


class Gates(_Strict):
    """What a run must show to pass (exit 0); a violated gate exits 1. Unset: not checked."""

    min_score: float | None = Field(default=None, ge=0.0, le=1.0)  # every model, all datasets
    score: list[ScoreGate] = []  # finer minimums (copied per instance, as every default)
    max_cost_usd: float | None = Field(default=None, ge=0.0)  # the run folder's spend
    max_error_rate: float | None = Field(default=None, ge=0.0, le=1.0)  # each model
    max_latency_p95_s: float | None = Field(default=None, gt=0.0)  # each model
    no_regression: bool = False  # no model regressed against --baseline

    @property
    def any(self) -> bool:
        return bool(self.min_score is not None or self.score or self.max_cost_usd is not None
                    or self.max_error_rate is not None or self.max_latency_p95_s is not None
                    or self.no_regression)


class Config(_Strict):
    """A whole run config."""

    name: str = Field(pattern=_NAME_RE)
    output_dir: str = DEFAULT_OUTPUT_DIR
    provider: Provider = Provider()
    models: list[Model] = Field(min_length=1)
    generation: Generation = Generation()
    datasets: list[Dataset] = Field(min_length=1)
    run: RunSettings = RunSettings()
    gates: Gates = Gates()

    @field_validator("output_dir")
    @classmethod
    def _output_dir(cls, value: str) -> str:
        from pipeline.store import check_output_dir  # see _scorers

        try:
            return check_output_dir(value)
        except ValueError as exc:  # never echo the value: it may hold credentials
            raise PydanticCustomError("output_dir", "{reason}", {"reason": str(exc)}) from None

    @model_validator(mode="after")
    def _prices_for_budget(self) -> Config:
        if self.run.max_cost_usd is None:
            return self
        for i, m in enumerate(self.models):
            if m.price is None and rate_for(m.id) is None:
                raise ValueError(
                    f"models[{i}].price: run.max_cost_usd needs a price for {m.id!r} "
                    "(no built-in one); set price = { input = ..., output = ... }"
                )
        return self

    @model_validator(mode="after")
    def _emulator_accuracy_models(self) -> Config:
        accuracy = self.provider.emulator.accuracy
        if isinstance(accuracy, dict):
            ids = [m.id for m in self.models]
            for model_id in accuracy:
                if model_id not in ids:
                    raise ValueError(
                        f"provider.emulator.accuracy: {model_id!r} is not a model id of this "
                        f"config (its models: {', '.join(ids)})"
                    )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for what, names in (
            ("models", [m.name for m in self.models]),
            ("datasets", [d.name for d in self.datasets]),
        ):
            seen: set[str] = set()
            for i, n in enumerate(names):
                if n in seen:
                    raise ValueError(f"{what}[{i}]: duplicate name {n!r}")
                seen.add(n)
        return self

    @model_validator(mode="after")
    def _reference_model(self) -> Config:
        names = [m.name for m in self.models]
        if self.run.reference is not None and self.run.reference not in names:
            raise ValueError(
                f"run.reference: no model named {self.run.reference!r} in this config "
                f"(its models: {', '.join(names)}); name one by its label or id"
            )
        return self

    def judge_models(self) -> dict[str, Model]:
        """Each judge scorer's `model` option -> the model it names: a model of the config
        (by label, else id), whose endpoint, key, limits and price it uses, or else a model
        of that id at the provider's endpoint."""
        out: dict[str, Model] = {}
        for ds in self.datasets:
            for spec in ds.scorers:
                name = (spec.__pydantic_extra__ or {}).get("model") if spec.name == "judge" \
                    else None
                if not isinstance(name, str) or name in out:
                    continue
                found = next((m for m in self.models if m.name == name), None) or next(
                    (m for m in self.models if m.id == name), None)
                out[name] = found if found is not None else Model(id=name)
        return out

    @model_validator(mode="after")
    def _judge_prices(self) -> Config:
        if self.run.max_cost_usd is None:
            return self
        for name, m in self.judge_models().items():
            if m.price is None and rate_for(m.id) is None:
                where = next(f"datasets[{i}].scorers[{j}].model"
                             for i, ds in enumerate(self.datasets)
                             for j, spec in enumerate(ds.scorers)
                             if (spec.__pydantic_extra__ or {}).get("model") == name)
                raise ValueError(
                    f"{where}: run.max_cost_usd needs a price for the judge {m.id!r} (no "
                    "built-in one); add it to [[models]] with price = { input = ..., "
                    "output = ... }")
        return self

    @property
    def reference_model(self) -> str:
        """The name of the model the comparison is made against."""
        return self.run.reference or self.models[0].name

    @model_validator(mode="after")
    def _gate_names(self) -> Config:
        models = [m.name for m in self.models]
        datasets = [d.name for d in self.datasets]
        for i, g in enumerate(self.gates.score):
            for what, name, known in (("model", g.model, models), ("dataset", g.dataset, datasets)):
                if name is not None and name not in known:
                    raise ValueError(
                        f"gates.score[{i}].{what}: no {what} named {name!r} in this config "
                        f"(known: {', '.join(known)})"
                    )
            if g.dataset is not None and self.datasets[datasets.index(g.dataset)].outputs_only:
                raise ValueError(
                    f"gates.score[{i}].dataset: {g.dataset!r} has scorers = [] (outputs only), "
                    "so it has no score to gate; gate a scored dataset"
                )
        return self


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config with where it came from (paths resolve against its folder)."""

    config: Config
    path: Path
    raw: dict[str, Any]

    def resolve(self, p: str) -> Path:
        """A path from the config, relative to the current directory, else to the config file."""
        path = Path(p)
        if path.is_absolute() or path.exists():
            return path
        beside = self.path.parent / path
        return beside if beside.exists() else path


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the user writes it: models[1].generation.temperature."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "dict[str,any]", "ScorerSpec") or str(part).startswith(
            ("function-", "literal[")
        ):
            continue  # union branch labels pydantic adds; not part of the user's path
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    kind = err.get("type")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the README's config reference)"
    if kind == "missing":
        return "required key is missing"
    if "input" in err and kind not in ("model_type", "dict_type", "output_dir",
                                       "scorer_option"):
        value = err["input"]
        if not isinstance(value, dict | list):
            return f"{msg} (got {value!r})"
    return msg


def config_problems(errors: list[Any]) -> list[tuple[str, str]]:
    """Pydantic errors as (field path, problem), one per problem the user must fix.

    A union (`str | table`) yields one error per branch: an error whose path is a prefix of
    another's is the less specific branch and is dropped, and a path is reported once."""
    found: list[tuple[str, str]] = []
    for err in errors:
        path = field_path(tuple(err["loc"]))
        if err.get("type") == "scorer_option":  # an option of a scorer: its own path
            path = f"{path}.{err['ctx']['field']}"
        if any(p == path for p, _ in found):
            continue
        found.append((path, _describe(err)))
    paths = [p for p, _ in found]
    return [
        (p, msg) for p, msg in found
        if not any(o != p and (o.startswith(p + ".") or o.startswith(p + "[")) for o in paths)
    ]


def parse_config(data: Mapping[str, Any], source: str = "<config>",
                 base: Path | None = None) -> Config:
    """Validate a config mapping; every problem becomes one line of a ConfigError. `base`:
    the config's folder, where `function = "module:name"` scorers are imported from."""
    try:
        return Config.model_validate(dict(data), context={"base": base})
    except ValidationError as exc:
        problems = config_problems(exc.errors())
        raise ConfigError.many([(f"{source}: {p}", msg) for p, msg in problems]) from None


def load_config(path: str | Path) -> LoadedConfig:
    """Read, parse and validate a TOML config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8").removeprefix("\ufeff")  # a BOM is not an error
    except FileNotFoundError:
        raise ConfigError(str(p), "config file not found", "check the path") from None
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{p}:{line}", "not valid UTF-8 text",
                          "save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(str(p), f"cannot read config: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{p}:{m.group(1)}" if m else str(p)
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(where, f"invalid TOML: {problem}", "fix the TOML syntax") from None
    return LoadedConfig(config=parse_config(data, source=str(p), base=p.resolve().parent),
                        path=p, raw=data)


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """Where one model's requests go, with the key read from the environment."""

    base_url: str
    api_key: str
    headers: dict[str, str]


def resolve_endpoint(
    cfg: Config, index: int, env: Mapping[str, str] | None = None, *, source: str = "<config>"
) -> ResolvedEndpoint:
    """Resolve model `index`'s URL and key from the config and environment (not for 'local')."""
    env = os.environ if env is None else env
    model, prov = cfg.models[index], cfg.provider
    where = f"{source}: models[{index}]"
    default_url_env = "INFERENCE_URL" if prov.kind == "heroku" else None
    default_key_env = "INFERENCE_KEY" if prov.kind == "heroku" else "OPENAI_API_KEY"

    base_url = model.base_url
    if base_url is None:
        url_env = model.url_env or prov.url_env
        if url_env is None and prov.base_url is None:
            url_env = default_url_env
        if url_env is not None:
            base_url = env.get(url_env)
            if not base_url:
                raise ConfigError(
                    f"{where}.url_env", f"environment variable {url_env} is not set",
                    f"export {url_env}=https://... or set base_url",
                )
        else:
            base_url = prov.base_url
    assert base_url is not None
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.base_url", "must start with http:// or https://")

    key_env = model.key_env or prov.key_env or default_key_env
    api_key = env.get(key_env, "").strip()
    # A local server (llama.cpp, vLLM) may need no key: for kind = "openai" a key is required
    # only when the config names its variable.
    key_required = prov.kind == "heroku" or bool(model.key_env or prov.key_env)
    if not api_key and key_required:
        raise ConfigError(
            f"{where}.key_env", f"environment variable {key_env} is not set",
            f"export {key_env}=... (keys come only from the environment)",
        )
    if not all(33 <= ord(ch) < 127 for ch in api_key):
        raise ConfigError(
            f"{where}.key_env", f"environment variable {key_env} holds characters not allowed "
            "in an HTTP header", "check it for quotes, spaces or a line break",
        )
    headers = dict(prov.headers)
    if prov.kind == "heroku" and not prov.prompt_caching:
        headers["X-Heroku-Prompt-Caching"] = "false"
    return ResolvedEndpoint(base_url=base_url, api_key=api_key, headers=headers)
