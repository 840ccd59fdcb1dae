"""The command line: parse arguments, call the modules, turn errors into one line and a code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.errors import (  # the exit codes without pipeline.outcome: it loads the gates
    EXIT_INCOMPLETE,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    InputError,
    PipelineError,
)

EXIT_CODES = """exit codes:
  0    the run folder is complete and every gate in [gates] passed
  1    a gate failed (one line per failed gate names it, the value and the limit)
  2    bad input or usage: config, dataset, environment, a run folder in use or made by
       another config, a --baseline that does not exist; nothing was sent
  3    the run is incomplete (budget reached, stopped by an endpoint error, items left to
       retry) or its permanent errors are above run.max_error_rate; a rerun with the same
       --run-id resumes it
  70   internal error (a bug: rerun with --debug and report it)
  74   the output could not be written (stdout on a full disk)
  130  interrupted (Ctrl-C / SIGTERM); a rerun with the same --run-id resumes it
  141  stdout's reader went away (`pipeline ... | head`); the work is done and written"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pipeline", description="Batch evaluation of chat-completion models.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"pipeline {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")

    r = sub.add_parser("run", parents=[common],
                       help="run (or resume) an evaluation from a TOML config",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("config", help="path to the TOML config")
    r.add_argument("--run-id", help="run folder name under output_dir; an existing one resumes")
    r.add_argument("--resume", action="store_true", help="resume the latest run of this config")
    r.add_argument("--no-progress", action="store_true",
                   help="no progress bar or progress lines")
    _output_options(r)
    r.add_argument("--progress-interval", type=float, default=10.0, metavar="S",
                   help="off a terminal (a scheduler's log): seconds between progress lines "
                        "(default 10)")
    _baseline_option(r)
    _scale_options(r)

    rep = sub.add_parser("report", parents=[common],
                         help="rebuild a run's tables and reports from its journal; sends nothing")
    rep.add_argument("run_folder", help="e.g. reports/demo-20261125-120000, or "
                     "s3://bucket/prefix/<run_id> for a stored run")
    rep.add_argument("--config", help="score with this config's scorers instead of the run's")
    _output_options(rep)
    _baseline_option(rep)

    sc = sub.add_parser("score", parents=[common],
                        help="score a run again, sending only the judge requests its answers "
                        "still need (none without a judge)")
    sc.add_argument("run_folder", help="e.g. reports/demo-20261125-120000")
    sc.add_argument("--config", help="score with this config's scorers instead of the run's")
    sc.add_argument("--no-progress", action="store_true",
                    help="no progress bar or progress lines")
    sc.add_argument("--progress-interval", type=float, default=10.0, metavar="S",
                    help="off a terminal: seconds between progress lines (default 10)")
    _output_options(sc)
    _baseline_option(sc)

    c = sub.add_parser("compare", parents=[common],
                       help="compare a finished run with a baseline run; sends nothing")
    c.add_argument("baseline_folder", metavar="RUN_A", help="the baseline run folder")
    c.add_argument("run_folder", metavar="RUN_B", help="the run folder to compare with it")
    c.add_argument("--json", action="store_true", help="print the table as a JSON list")

    v = sub.add_parser("validate", parents=[common],
                       help="check a config, its environment and every prompt; sends nothing")
    v.add_argument("config")
    v.add_argument("--online", action="store_true",
                   help="also ask the endpoint which models it serves (a free GET; heroku: "
                   "/available-models, openai: /v1/models)")

    s = sub.add_parser("serve", parents=[common], help="run the local Heroku-compatible emulator")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--speed", type=float, default=1.0,
                   help="latency multiplier: 1 realistic, 0 none (default 1)")
    s.add_argument("--key-env", default=None,
                   help="accept only the key in this environment variable (default: any key)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--enforce-rate-limits", action="store_true",
                   help="answer 429 past each model's published requests and tokens per minute")
    s.add_argument("--rpm", type=int, default=None, metavar="N",
                   help="with --enforce-rate-limits and --tpm: N requests per window, every model")
    s.add_argument("--tpm", type=int, default=None, metavar="N",
                   help="with --enforce-rate-limits and --rpm: N tokens per window, every model")
    s.add_argument("--rate-window-s", type=float, default=None, metavar="S",
                   help="with --enforce-rate-limits: the sliding window's length (default 60)")
    s.add_argument("--usage", choices=("always", "requested", "never"), default="always",
                   help="when answers carry usage: always (Heroku), requested (OpenAI: streams "
                        "only with stream_options.include_usage), never (default always)")
    s.add_argument("--response-model", default=None, metavar="NAME",
                   help="every answer's model field says NAME (as llama.cpp names its model)")
    s.add_argument("--accept-any-model", action="store_true",
                   help="answer unknown model ids with a default profile instead of a 400")
    for knob in ("rate_429", "error_500", "error_503", "drop", "hang", "truncate_stream",
                 "malformed"):
        s.add_argument(f"--{knob.replace('_', '-')}", type=float, default=0.0, dest=knob,
                       metavar="P", help=f"probability of a {knob} fault per request")
    _add_estimate_history(sub, common)
    return p


def _scale_options(p: argparse.ArgumentParser) -> None:
    """`run`'s options past one process (README: "Past one machine")."""
    p.add_argument("--shard", metavar="K/N",
                   help="send only shard K of N (by key hash; needs --run-id, the same for "
                        "every shard); each shard gets 1/N of the limits; merge with "
                        "`pipeline report OUTPUT_DIR/RUN`")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: N shards as Ray tasks, then "
                        "merged (pip install 'pipeline[ray]')")
    p.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: the cluster to join ('auto': the one started by "
                        "`ray start`); default: a local Ray instance")
    p.add_argument("--shards", type=int, metavar="N",
                   help="with --engine ray: the number of shards (default: the cluster's CPUs)")


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (shape: "
                        "pipeline/schemas/run-output.schema.json); human text goes to stderr")
    loud = p.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true",
                      help="only warnings, errors, failed gates and the final status line")
    loud.add_argument("-v", "--verbose", action="store_true",
                      help="also a line per failed item, per-model progress, every gate")


class _Out:
    """Where human lines go: stdout, or stderr when stdout carries --json."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = getattr(args, "json", False)
        self.quiet = getattr(args, "quiet", False)
        self.verbose = getattr(args, "verbose", False)
        self.stream = sys.stderr if self.json else sys.stdout

    def say(self, text: str = "", *, always: bool = False) -> None:
        """A human line; dropped by --quiet unless `always`."""
        if always or not self.quiet:
            print(text, file=self.stream, flush=True)


def _finish(command: str, out: _Out, folder: Path, cfg, resume_hint: str,
            invocation: dict[str, int] | None = None, warnings: list[str] | None = None) -> int:
    """Check the gates, print the verdict (and the JSON document) and return the exit code."""
    from pipeline import gates as gates_mod
    from pipeline.outcome import decide, document, dumps
    from pipeline.runfolder import read_manifest

    manifest = read_manifest(folder) or {}
    results = gates_mod.evaluate(cfg.gates, folder, manifest, [m.name for m in cfg.models])
    decision = decide(manifest, cfg.run.max_error_rate, results, resume_hint)
    for g in results:
        if not g.passed:
            print(g.message, file=sys.stderr, flush=True)
        elif out.verbose:
            out.say(g.message)
    if decision.exit_code == EXIT_INTERRUPTED:
        print(decision.message, file=sys.stderr, flush=True)
    elif decision.exit_code != EXIT_OK:
        print(f"error: {decision.message}", file=sys.stderr, flush=True)
    elif results:
        out.say(decision.message)
    if out.json:
        print(dumps(document(command, folder, manifest, decision, invocation, warnings)),
              flush=True)
    return decision.exit_code


def _baseline_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", metavar="SPEC",
                   help="compare with another run: 'latest' (the newest earlier complete run of "
                   "this config) or a run folder; writes baseline.parquet/csv and a report "
                   "section")


def _print_baseline(folder: Path, out: _Out) -> None:
    """The comparison with the baseline in plain words, if this run made one."""
    import polars as pl

    from pipeline.compare import describe

    path = folder / "baseline.parquet"
    if path.exists():
        out.say("\nChange against baseline:")
        for row in pl.read_parquet(path).iter_rows(named=True):
            out.say(f"  {describe(row)}")


def _compare(args: argparse.Namespace) -> int:
    import json
    import math

    from pipeline.compare import compare, describe, load_run
    from pipeline.report.sections import baseline_section
    from pipeline.report.text import render_text

    got = compare(load_run(Path(args.baseline_folder)), load_run(Path(args.run_folder)))
    for warning in got.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rows = got.frame.to_dicts()
    if args.json:
        clean = [{k: None if isinstance(v, float) and not math.isfinite(v) else v
                  for k, v in r.items()} for r in rows]
        print(json.dumps(clean, indent=2))
        return EXIT_OK
    print(f"{got.new_run_id} against baseline {got.base_run_id}:")
    for row in rows:
        print(f"  {describe(row)}")
    print()
    print(render_text(baseline_section(got.frame, got.base_run_id)))
    return EXIT_OK


def _add_estimate_history(sub: Any, common: argparse.ArgumentParser) -> None:
    """The `estimate` and `history` commands (they read files only; nothing is sent)."""
    e = sub.add_parser("estimate", parents=[common],
                       help="items, tokens, expected and worst-case cost, and the shortest wall "
                            "time of a config's run; sends nothing")
    e.add_argument("config")
    e.add_argument("--run-id", help="only what this run folder still has to send")
    e.add_argument("--json", action="store_true", help="print the estimate as JSON")
    h = sub.add_parser("history", parents=[common],
                       help="earlier runs of a config: status, score, cost, tokens, errors")
    h.add_argument("config_or_name", metavar="CONFIG_OR_NAME",
                   help="a config file (its name and output_dir), or a config's name")
    h.add_argument("--output-dir", help="where the run folders are (default: the config's "
                                        "output_dir, else reports)")
    h.add_argument("--json", action="store_true", help="print the runs as JSON")
    h.add_argument("--html", metavar="PATH", help="also write a self-contained HTML trend page")


def _estimate(args: argparse.Namespace) -> int:
    import json

    from pipeline.config import load_config
    from pipeline.estimate import estimate, render

    est = estimate(load_config(args.config), run_id=args.run_id)
    print(json.dumps(est.to_json(), indent=2) if args.json else render(est))
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    import json

    from pipeline.history import history, render_table, write_html

    runs, name, out_dir = history(args.config_or_name, args.output_dir)
    if args.html:
        write_html(Path(args.html), name, runs)
    if args.json:
        print(json.dumps([r.to_json() for r in runs], indent=2))
    elif runs:
        print(render_table(runs))
    else:
        print(f"no runs of {name!r} under {out_dir}/")
    if args.html:
        print(f"trend page: {args.html}", file=sys.stderr)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.runner import RunOptions, run

    if args.run_id is not None and not args.run_id.strip():
        raise PipelineError.usage("--run-id: empty; give a run folder name, or leave it out "
                                  "for a new run")
    shard = _check_scale(args)
    loaded = load_config(args.config)
    if loaded.config.gates.no_regression and not args.baseline and shard is None:
        raise PipelineError.usage(
            f"{args.config}: gates.no_regression needs a baseline to compare with; add "
            "--baseline latest (the newest earlier complete run) or --baseline RUN_FOLDER")
    if args.engine == "ray":
        return _run_ray(args, loaded)
    out = _Out(args)
    outcome = run(loaded, RunOptions(
        run_id=args.run_id, resume=args.resume, progress=False if args.no_progress else None,
        progress_interval_s=args.progress_interval, quiet=out.quiet, verbose=out.verbose,
        handle_signals=True, baseline=args.baseline,
        shard=shard.as_tuple() if shard is not None else None,
    ))
    if not out.quiet:
        _print_summary(outcome.folder, out)
    if args.baseline and not out.quiet:
        _print_baseline(outcome.folder, out)
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if outcome.errors or outcome.failed_items:
        _print_errors(outcome.folder)
    out.say(f"\n{outcome.sent} items finished now, {outcome.skipped} already done, "
            f"{outcome.errors} errors; in the run folder {outcome.planned - outcome.pending} of "
            f"{outcome.planned} items done, {outcome.failed_items} failed for good"
            + (f"; {outcome.judged} judge requests now, {outcome.judge_pending} answers not "
               "judged yet" if outcome.judged or outcome.judge_pending else "")
            + _judge_line(outcome.folder)
            + f"; status: {outcome.status}", always=True)
    out.say(f"run folder: {outcome.folder}")
    if outcome.store_url:
        out.say(f"stored in: {outcome.store_url}")
    out.say(f"report: {outcome.folder / 'report.html'}")
    resume = f"resume with: pipeline run {args.config} --run-id {outcome.run_id}"
    cfg = loaded.config
    if shard is not None:  # the gates judge the whole run: checked when the shards merge
        resume += f" --shard {shard.index}/{shard.count}"
        out.say(f"merge the shards with: pipeline report {outcome.folder.parent.parent}")
        cfg = cfg.model_copy(update={"gates": type(cfg.gates)()})
    return _finish("run", out, outcome.folder, cfg, resume,
                   {"sent": outcome.sent, "skipped": outcome.skipped, "errors": outcome.errors},
                   outcome.warnings)


def _check_scale(args: argparse.Namespace) -> Any:
    """The --shard value (None without it); one-line errors for flags that do not go
    together."""
    from pipeline.shards import parse_shard

    ray = args.engine == "ray"
    if not ray and (args.shards is not None or args.address is not None):
        raise PipelineError.usage("--shards and --address go with --engine ray")
    if ray and args.shards is not None and args.shards < 1:
        raise PipelineError.usage(f"--shards {args.shards}: give a number of shards >= 1")
    if ray and (args.shard is not None or args.resume):
        raise PipelineError.usage("--engine ray splits the run itself: leave out --shard and "
                                  "--resume (give --run-id RUN to resume a run)")
    if args.shard is None:
        return None
    shard = parse_shard(args.shard)
    if args.run_id is None:
        raise PipelineError.usage(f"--shard {args.shard}: needs --run-id RUN, the same for "
                                  "every shard, so they share one run folder")
    if args.resume:
        raise PipelineError.usage("--shard: leave out --resume; the same --run-id resumes")
    if args.baseline:
        raise PipelineError.usage("--shard: compare the merged run instead: pipeline report "
                                  "OUTPUT_DIR/RUN --baseline SPEC")
    return shard


def _run_ray(args: argparse.Namespace, loaded: Any) -> int:
    """`run --engine ray`: every shard as a Ray task, then the merge (pipeline/engines/ray.py)."""
    from pipeline.engines.ray import run_on_ray

    out = _Out(args)
    got = run_on_ray(loaded, run_id=args.run_id, shards=args.shards, address=args.address,
                     baseline=args.baseline)
    if not out.quiet:
        _print_summary(got.folder, out)
    if args.baseline and not out.quiet:
        _print_baseline(got.folder, out)
    for s in got.per_shard:
        for warning in s["warnings"]:
            print(f"warning: shard {s['shard']}: {warning}", file=sys.stderr)
    out.say(f"\n{got.shards} shards on Ray: {got.sent} items finished now, {got.skipped} "
            f"already done, {got.errors} errors; status: {got.status}", always=True)
    out.say(f"run folder: {got.folder}")
    out.say(f"report: {got.folder / 'report.html'}")
    resume = f"resume with: pipeline run {args.config} --engine ray --run-id {got.run_id}"
    return _finish("run", out, got.folder, loaded.config, resume,
                   {"sent": got.sent, "skipped": got.skipped, "errors": got.errors})


def _print_summary(folder: Path, out: _Out) -> None:
    import polars as pl

    from pipeline.report.sections import model_section
    from pipeline.report.text import render_text
    from pipeline.runfolder import read_manifest

    summary = pl.read_parquet(folder / "summary.parquet")
    if summary.height:
        out.say(render_text(model_section(summary)))
    headline = (read_manifest(folder) or {}).get("headline") or []
    if summary.height and headline:  # the report's answer, in the same words
        out.say("")
        for line in headline:
            out.say(line)


def _report(args: argparse.Namespace) -> int:
    from pipeline.rescore import rescore, rescore_stored
    from pipeline.store import is_store

    out = _Out(args)
    if is_store(args.run_folder):  # s3://bucket/prefix/<run_id>
        folder, status, loaded = rescore_stored(args.run_folder, args.config,
                                                baseline=args.baseline)
    else:
        folder = Path(args.run_folder)
        status, loaded = rescore(folder, args.config, baseline=args.baseline)
    if not out.quiet:
        _print_summary(folder, out)
        _print_baseline(folder, out)
    _print_warnings(folder)
    out.say(f"\nstatus: {status}{_judge_line(folder)}", always=True)
    out.say(f"report: {folder / 'report.html'}")
    resume = f"resume with: pipeline run {loaded.path} --run-id {folder.name}"
    return _finish("report", out, folder, loaded.config, resume)


def _score(args: argparse.Namespace) -> int:
    from pipeline.rescore import score
    from pipeline.runner import RunOptions

    out = _Out(args)
    opts = RunOptions(progress=False if args.no_progress else None,
                      progress_interval_s=args.progress_interval, quiet=out.quiet,
                      verbose=out.verbose, handle_signals=True)
    folder = Path(args.run_folder)
    status, loaded, sent = score(folder, args.config, baseline=args.baseline, opts=opts)
    if not out.quiet:
        _print_summary(folder, out)
        _print_baseline(folder, out)
    _print_warnings(folder)
    out.say(f"\n{sent} judge requests sent now{_judge_line(folder)}; status: {status}",
            always=True)
    out.say(f"report: {folder / 'report.html'}")
    again = f" --config {args.config}" if args.config else ""
    resume = f"judge the rest with: pipeline score {folder}{again}"
    return _finish("score", out, folder, loaded.config, resume)


def _print_warnings(folder: Path) -> None:
    """The run folder's warnings (as `run` prints its own), on stderr."""
    from pipeline.runfolder import read_manifest

    for warning in (read_manifest(folder) or {}).get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)


def _print_errors(folder: Path, most: int = 3) -> None:
    """What the run folder's answers that ended in an error say, by kind: how many, and the
    first one's message (on stderr; a run against a server that is down says so)."""
    import polars as pl

    from pipeline.errors import error_text
    from pipeline.report.sections import error_counts

    path = folder / "results.parquet"
    if not path.exists():
        return
    kinds = error_counts(pl.scan_parquet(path), ["error_type"])
    for kind, n, example in kinds.head(most).iter_rows():
        print(f"errors: {n:,} x {error_text(kind, example)[:300]}", file=sys.stderr)
    if kinds.height > most:
        print(f"errors: {kinds.height - most} more kinds; see report.md", file=sys.stderr)


def _judge_line(folder: Path) -> str:
    """', the judge: N answers graded, $X' for a run with a judge, else ''."""
    from pipeline.report.sections import fmt
    from pipeline.runfolder import read_manifest

    judge = (read_manifest(folder) or {}).get("judge")
    if not judge:
        return ""
    graded = sum(j["graded"] for j in judge["scorers"])
    answers = sum(j["answers"] for j in judge["scorers"])
    cost = fmt(judge["cost_usd"], "usd") if judge["cost_usd"] is not None else "cost unknown"
    return f"; the judge: {graded} of {answers} answers graded, {cost}"


def _validate(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.plan import Plan
    from pipeline.preflight import check_config, check_online, check_samples, resolve_endpoints

    loaded = load_config(args.config)
    cfg, source = loaded.config, str(loaded.path)
    plan = Plan(loaded)
    infos = plan.check()
    findings = check_config(plan, source)
    resolved, env_problems = resolve_endpoints(cfg, None, source)
    findings.problems[:0] = env_problems
    from pipeline.judging import check_judges

    findings.problems += check_judges(cfg, None, source)[1]
    findings.problems += check_samples(plan, source).problems
    from pipeline.store import store_problems

    findings.problems += [(source, p) for p in store_problems(cfg.output_dir,
                                                              online=args.online)]
    if args.online and resolved is not None:
        online = check_online(cfg, resolved, source)
        findings.problems += online.problems
        findings.warnings += online.warnings
    for warning in findings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    findings.raise_if_any()
    for ds, d in zip(infos, plan.datasets, strict=True):
        read = (f"the first {ds['samples']} rows (limit = {d.spec.limit})"
                if d.spec.limit is not None and ds["samples"] >= d.spec.limit
                else f"all {ds['samples']} rows")
        if d.spec.sample is not None:
            read = (f"{ds['samples']} rows drawn from {ds['rows']} (sample = {d.spec.sample}, "
                    f"seed = {ds['seed']})")
        print(f"{ds['name']}: {ds['samples']} samples ({ds['format']}, {ds['path']}; "
              f"read and checked {read})")
    from pipeline.catalog import CATALOG

    unknown = [m.name for m in cfg.models
               if CATALOG.get(m.id) is None or CATALOG[m.id].context_window is None]
    checked = "environment, model ids, output limits, prompts against context windows"
    if unknown:
        checked += f" (unknown for {', '.join(unknown)}: not checked)"
    if args.online and resolved is not None:
        checked += ", the endpoint's model list"
    n = len(cfg.models)
    print(f"ok: {plan.total} work item{'s' if plan.total != 1 else ''} for {n} "
          f"model{'s' if n != 1 else ''}; checked {checked}")
    from pipeline.estimate import estimate, one_line

    print(one_line(estimate(loaded, plan=plan)))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from pipeline.emulator import EmulatorConfig, Faults, serve_forever

    key = None
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            raise InputError(f"--key-env: environment variable {args.key_env} is not set")
    rate: dict = {}
    if (args.rpm, args.tpm, args.rate_window_s) != (None, None, None):
        if not args.enforce_rate_limits:
            raise InputError("--rpm, --tpm and --rate-window-s need --enforce-rate-limits")
    if (args.rpm is None) != (args.tpm is None):
        raise InputError("--rpm and --tpm go together (both apply to every model)")
    if args.rpm is not None:
        rate["rate_limits"] = {"*": (args.rpm, args.tpm)}
    if args.rate_window_s is not None:
        rate["rate_window_s"] = args.rate_window_s
    try:
        faults = Faults(rate_429=args.rate_429, error_500=args.error_500,
                        error_503=args.error_503, drop=args.drop, hang=args.hang,
                        truncate_stream=args.truncate_stream, malformed=args.malformed)
        config = EmulatorConfig(api_key=key, speed=args.speed, faults=faults, seed=args.seed,
                                enforce_rate_limits=args.enforce_rate_limits, usage=args.usage,
                                response_model=args.response_model,
                                accept_any_model=args.accept_any_model, **rate)
    except ValueError as exc:
        raise InputError(f"serve: {exc}") from exc
    serve_forever(config, host=args.host, port=args.port)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pipeline` command."""
    from pipeline import startup

    args = _parser().parse_args(argv)
    if args.command == "run" and args.engine == "local":
        startup.pause()  # resumed just before the run sends (pipeline/startup.py)
    try:
        return _main(args)
    finally:
        startup.settle()


def entry() -> None:
    """The `pipeline` command as a process (the console script and `python -m pipeline`):
    `main`, then out without Python's teardown (startup.leave)."""
    from pipeline import startup

    startup.guard_stderr()
    startup.leave(main())


def _main(args: argparse.Namespace) -> int:
    if "polars" not in sys.modules:
        # Tables are built from many small row parts, which a single polars thread reads about
        # as fast as two; each more thread holds its own buffers (5-12 MB per finalize step,
        # measured on 800,000 rows). Set POLARS_MAX_THREADS yourself to use more.
        os.environ.setdefault("POLARS_MAX_THREADS", "1")
        # polars' allocator (jemalloc) keeps 4 arenas per CPU, each holding freed memory of
        # its own: on 2 CPUs `pipeline report` of 200,000 items peaked at 150-158 MB, pinned
        # to one CPU at 135 MB; with one arena at 135 MB either way, in the same time
        # (bench/measure.py). polars appends it to its own defaults as it loads (its
        # documented override); your own _RJEM_MALLOC_CONF is kept instead.
        os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1")
    handlers = {"run": _run, "report": _report, "score": _score, "validate": _validate,
                "serve": _serve,
                "compare": _compare,
                "estimate": _estimate, "history": _history}
    try:
        return handlers[args.command](args)
    except PipelineError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)
        _json_failure(args, exc.exit_code, str(exc))
        return exc.exit_code
    except BrokenPipeError:
        # `pipeline report RUN | head`: the reader left; the work is done and written. Quiet,
        # like any Unix tool, with the shell's code for a closed pipe (128 + SIGPIPE).
        from pipeline.startup import silence

        silence(sys.stdout)
        return EXIT_PIPE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        _json_failure(args, EXIT_INTERRUPTED, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: one line, no traceback
        if args.debug:
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        print(f"error: {message} (rerun with --debug for the traceback)", file=sys.stderr)
        _json_failure(args, EXIT_INTERNAL, message)
        return EXIT_INTERNAL


def _json_failure(args: argparse.Namespace, code: int, message: str) -> None:
    """With --json, stdout still carries one document when the command failed early."""
    if getattr(args, "json", False):
        from pipeline.outcome import dumps, error_document

        code = code if code in (EXIT_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED) else EXIT_INTERNAL
        print(dumps(error_document(args.command, code, message)), flush=True)


if __name__ == "__main__":
    entry()
