"""One model catalogue: prices, rate limits, output caps and context windows live only in
pipeline/catalog.py; the client side and the emulator read it, and nothing restates it."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from pipeline.catalog import ANY_MODEL, CATALOG
from pipeline.config import parse_config
from pipeline.emulator.models import MODELS, PROFILES, lookup
from pipeline.errors import ConfigError
from pipeline.pricing import Rate, rate_for
from tests.helpers import ROOT

PACKAGE = ROOT / "pipeline"
CATALOGUE = PACKAGE / "catalog.py"
PROFILE_TABLE = PACKAGE / "emulator" / "models.py"


def _sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def test_every_catalogue_id_has_an_emulator_profile_and_no_other_id_has_one():
    assert set(PROFILES) == set(CATALOG)
    assert list(MODELS) == list(CATALOG)


def test_model_ids_are_written_only_in_the_catalogue_and_the_profile_table():
    ids = set(CATALOG)
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path, tree in _sources() if path not in (CATALOGUE, PROFILE_TABLE)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in ids
    ]
    assert not found, "a second table of model facts? " + "; ".join(found)


def test_model_facts_are_made_only_in_the_catalogue():
    made = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in _sources() if path != CATALOGUE
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ModelFacts"
    ]
    assert not made, "ModelFacts built outside pipeline/catalog.py: " + ", ".join(made)


def test_prices_are_read_from_the_catalogue(monkeypatch: pytest.MonkeyPatch):
    haiku = "claude-4-5-haiku"
    assert rate_for(haiku) == Rate(CATALOG[haiku].price_in, CATALOG[haiku].price_out)
    assert rate_for(haiku, (9.0, 10.0)) == Rate(9.0, 10.0)
    assert rate_for("gpt-oss-120b") is None  # the catalogue has no price for it
    monkeypatch.setitem(CATALOG, haiku, dataclasses.replace(CATALOG[haiku], price_in=None))
    assert rate_for(haiku) is None
    cfg = {"name": "t", "models": [{"id": haiku}], "datasets": [{"name": "d", "path": "x"}],
           "run": {"max_cost_usd": 1.0}}
    with pytest.raises(ConfigError, match="needs a price for 'claude-4-5-haiku'"):
        parse_config(cfg)


def test_an_id_outside_the_catalogue_gets_the_catalogues_any_model_limits():
    assert lookup("my-local-model") is None
    found = lookup("my-local-model", accept_any=True)
    assert found is not None
    profile, limits = found
    assert profile.model_id == "my-local-model"
    assert (limits.rpm, limits.tpm, limits.max_output_tokens, limits.context_window) == (
        ANY_MODEL.rpm, ANY_MODEL.tpm, ANY_MODEL.max_output_tokens, ANY_MODEL.context_window)
