"""The package's import graph has no cycle: a run goes from config to report entering every
module once, in order. Imports inside functions and under `if TYPE_CHECKING:` count too
(an import moved into a function to dodge a cycle is still a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "pipeline"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(module: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]
              ) -> set[str]:
    """The project modules one import statement names (a package's module, not the
    package, where `from package import module` says so)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = module.split(".")
            if modules[module].name != "__init__.py":
                here = here[:-1]
            here = here[: len(here) - (node.level - 1)]
            base = ".".join([*here, base] if base else here)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                 for a in node.names]
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its text."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[module] |= _imported(module, node, modules)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "pipeline.config" in graph and "pipeline.datasets" in graph["pipeline.plan"]
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_sample_schema_is_a_leaf():
    assert import_graph()["pipeline.sample_schema"] == set()


def test_the_cycle_check_sees_imports_inside_functions():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from pipeline.config import Config\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert _imported("pipeline.datasets", node, _modules()) == {"pipeline.config"}


def _imported_by(code: str) -> set[str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=str(ROOT))
    return set(out.stdout.split())


def test_pipeline_report_does_not_import_the_http_stack():
    mods = _imported_by("import pipeline.cli, pipeline.rescore, pipeline.finalize")
    http = {m for m in mods if m.split(".")[0] in ("httpx", "httpcore", "aiohttp", "ray")
            or m.startswith(("pipeline.client", "pipeline.runner", "pipeline.emulator"))}
    assert not http


def test_the_run_path_loads_no_table_library_before_sending():
    # polars (0.3-0.5 s to import) is loaded in the background once the first request left
    mods = _imported_by("import pipeline.cli, pipeline.runner, pipeline.resume, pipeline.plan")
    assert not {m for m in mods if m.split(".")[0] in ("polars", "pyarrow", "tqdm", "httpx")}


def test_loading_a_config_names_its_scorers_without_importing_them():
    # the scorers' regexes cost ~40 ms to compile: they load when the first answer is scored
    mods = _imported_by("import pipeline.cli, pipeline.runner\n"
                        "from pipeline.config import load_config\n"
                        "cfg = load_config('configs/demo.toml')\n"
                        "assert {s.name for d in cfg.config.datasets for s in d.scorer_specs()}"
                        " >= {'numeric', 'choice'}")
    assert not {m for m in mods if m.startswith("pipeline.scoring.")} - {"pipeline.scoring.base"}


def test_a_scorer_is_imported_when_first_asked_for():
    from pipeline.scoring import SCORERS, Output

    assert "numeric" in SCORERS and "nope" not in SCORERS and len(SCORERS) == len(list(SCORERS))
    assert SCORERS["numeric"](Output("Answer: 4", [], "4")).value == 1.0


def test_the_run_path_reads_no_package_metadata_before_sending():
    # importlib.metadata (and the email package it loads) cost 30-45 ms of the start: the
    # manifest's versions are read once the sending is over, pydantic's plugin loader is
    # stood in for while plugins are off, and a Retry-After date is parsed when one comes
    mods = _imported_by("import pipeline.cli, pipeline.runner\n"
                        "from pipeline.config import load_config\n"
                        "load_config('configs/demo.toml')")
    assert not {m for m in mods if m.split(".")[0] == "email" or
                m.startswith("importlib.metadata")}


def _run(code: str, **env: str) -> str:
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(ROOT), env={**os.environ, **env})
    return out.stdout.strip()


def test_the_stand_in_for_pydantics_plugin_loader_answers_as_the_real_one():
    real = ("import pydantic.plugin._loader as m\n"
            "print(tuple(m.get_plugins()), m.__file__ is not None)")
    assert _run(real, PYDANTIC_DISABLE_PLUGINS="__all__") == "() True"
    stand_in = ("import pipeline, sys, pydantic.plugin._loader as m\n"
                "print(tuple(m.get_plugins()), getattr(m, '__file__', None), "
                "'importlib.metadata' in sys.modules)")
    assert _run(stand_in) == "() None False"
    # anything else asked of it is the real module's
    other = ("import pipeline, pydantic.plugin._loader as m\n"
             "print(m.PYDANTIC_ENTRY_POINT_GROUP, m._plugins)")
    assert _run(other) == "pydantic None"
    # plugins on (the variable set to something else): the real loader's answer
    code = ("import pipeline.config, sys, pydantic.plugin._loader as m\n"
            "print(tuple(m.get_plugins()), 'importlib.metadata' in sys.modules)")
    for value in ("", "some_plugin"):
        assert _run(code, PYDANTIC_DISABLE_PLUGINS=value) == "() True"


def test_the_run_path_loads_neither_the_gates_nor_the_shards_before_sending():
    # the command line takes its exit codes from pipeline.errors; gates are checked, and
    # shards loaded, only when a run needs them
    mods = _imported_by("import pipeline.cli, pipeline.runner\n"
                        "from pipeline.config import load_config\n"
                        "load_config('configs/demo.toml')")
    assert not mods & {"pipeline.gates", "pipeline.outcome", "pipeline.shards"}
