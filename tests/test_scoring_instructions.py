"""IFEval's instruction checkers and the ifeval scorer: each checker on real-looking answers
that pass and fail (markdown, trailing white space, unicode, empty), strict against loose,
kwargs that are wrong, the scorer's counting, and the registry against the shipped dataset."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.scoring import SCORERS
from pipeline.scoring.base import Output
from pipeline.scoring.ifeval import instruction_counts
from pipeline.scoring.instructions import (
    REGISTRY,
    UNSUPPORTED,
    InstructionError,
    follows,
    validate,
)
from pipeline.scoring.instructions.text import sentences, words
from tests.helpers import ROOT

DATASET = ROOT / "datasets" / "ifeval" / "input_data.jsonl"
END = "Is there anything else I can help with?"

# (instruction id, kwargs, response, followed in strict mode)
CASES = [
    # keywords
    ("keywords:existence", {"keywords": ["Paris", "tower"]},
     "We visited PARIS and the Eiffel Tower.", True),
    ("keywords:existence", {"keywords": ["Paris", "tower"]}, "We visited Paris.", False),
    ("keywords:existence", {"keywords": ["Paris"]}, "parisian streets", True),  # as reference
    ("keywords:existence", {"keywords": ["café"]}, "Un CAFÉ, s'il vous plaît.", True),
    ("keywords:frequency", {"keyword": "fake", "frequency": 2, "relation": "at least"},
     "Fake news is still fake.", True),
    ("keywords:frequency", {"keyword": "fake", "frequency": 2, "relation": "at least"},
     "This one is fake.", False),
    ("keywords:frequency", {"keyword": "fake", "frequency": 2, "relation": "less than"},
     "This one is fake.", True),
    ("keywords:frequency", {"keyword": "fake", "frequency": 2, "relation": "less than"},
     "FAKE, fake!", False),
    ("keywords:forbidden_words", {"forbidden_words": ["rock"]}, "I like jazz.", True),
    ("keywords:forbidden_words", {"forbidden_words": ["rock"]}, "Rock on!", False),
    ("keywords:forbidden_words", {"forbidden_words": ["rock"]}, "A rocky road.", True),
    ("keywords:forbidden_words", {"forbidden_words": ["rock"]}, "the rock’s edge", False),
    ("keywords:forbidden_words", {"forbidden_words": ["taylor", "swift"]},
     "A song by Taylor S.", False),
    ("keywords:letter_frequency", {"letter": "q", "let_frequency": 2, "let_relation": "at least"},
     "Quick quiz", True),
    ("keywords:letter_frequency", {"letter": "q", "let_frequency": 2, "let_relation": "at least"},
     "quick", False),
    ("keywords:letter_frequency", {"letter": "n", "let_frequency": 3,
                                   "let_relation": "less than"}, "No, no.", True),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 4, "let_relation": "at least"},
     "#vote #now #today #2024", True),
    ("keywords:letter_frequency", {"letter": "!", "let_frequency": 2, "let_relation": "at least"},
     "Wow!", False),
    # length
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"},
     "One two three four five.", True),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"},
     "One two three four.", False),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"},
     "don't stop me now", True),  # \w+ runs: don, t, stop, me, now
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"},
     "café au lait très bon", False),  # five unicode words
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"},
     "**Short** answer.\n\n", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "One. Two.", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Dr. Smith arrived. He sat. He left.", False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "It costs $3.50 today, e.g. at noon. Fine.", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"},
     "Wait... what? Yes!", True),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"},
     "1. First item\n2. Second item\nDone.", False),  # list numbers end no sentence
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3},
     "First part.\n***\nSecond part.\n***\nThird part.", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3},
     "***\nFirst.\n***\nSecond.\n***\nThird.\n***\n", True),  # dividers at the edges
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3},
     "First.\n***\n***\nSecond.\n***\nThird.", False),  # an empty paragraph between
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3},
     "First.\n\nSecond.\n\nThird.", False),  # blank lines are not the divider asked for
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "summary"},
     "Intro here.\n\nSummary: it works.", True),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "summary"},
     "Intro here.\n   \n\"Summary\" is the word.\n\n  ", True),  # blank-ish lines, quotes
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "summary"},
     "Intro here.\n\nSummarys are fun.", False),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "summary"},
     "Intro.\n\nSummary.\n\nExtra.", False),  # three paragraphs
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "Élan"},
     "élan vital.\n\nMore.", True),
    # formats
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b\n* c", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "- a\n  - b\n+ c\n", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3},
     "**Title**\n* a\n* b\n* c\n\n---", True),  # bold line and rule are no bullets
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b\n* c", False),
    ("detectable_format:constrained_response", {}, "My answer is yes.", True),
    ("detectable_format:constrained_response", {}, "Hmm. My answer is maybe. Because...", True),
    ("detectable_format:constrained_response", {}, "my answer is yes", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "*one* and **two**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one*", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "a * * b", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "*a\nb*", False),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "SECTION 1\nintro\nSECTION 2\nbody", True),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "## SECTION 1\nx\n\n## SECTION 2\ny", True),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "Section 1\nx\nSection 2\ny", False),  # the marker's case is part of it
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "SUBSECTION 1 x SUBSECTION 2 y", False),
    ("detectable_format:multiple_sections", {"section_spliter": "Day", "num_sections": 2},
     "Day 1: Rome\nDay 2: Florence", True),
    ("detectable_format:json_format", {}, '{"a": 1}', True),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True),
    ("detectable_format:json_format", {}, "```JSON\n[1, 2]\n```\n", True),
    ("detectable_format:json_format", {}, '  \n{"name": "Zoë"}\n  ', True),
    ("detectable_format:json_format", {}, 'Here it is: {"a": 1}', False),
    ("detectable_format:json_format", {}, "{'a': 1}", False),
    ("detectable_format:title", {}, "<<My Title>>\nBody text.", True),
    ("detectable_format:title", {}, "<< >>\nBody", False),
    ("detectable_format:title", {}, "<<multi\nline>>", False),
    ("detectable_format:title", {}, "# My Title\nBody", False),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     "Dear [name], see you at [address].", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] and [ ]", False),
    ("detectable_content:number_placeholders", {"num_placeholders": 1}, "[পণ্য]", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\nP.S. Bye.", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n**P.S.** Bye.", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\nps: bye", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi. P.S. bye", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\nPSA: vote", False),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.P.S. More.", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.S. Only.", False),
    # combination
    ("combination:two_responses", {}, "Joke one.\n******\nJoke two.", True),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False),
    ("combination:two_responses", {}, "A\n******\nB\n******\nC", False),
    ("combination:two_responses", {}, "******\nA\n******\nB\n******", True),
    ("combination:two_responses", {}, "A\n******\n \n******\nB", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."},
     "Write a poem.\nRoses are red.", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem about the sea."},
     "write a poem\nabout  the sea. Waves...", True),  # case and white space only
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."},
     "Sure! Write a poem. Roses.", False),
    # start / end
    ("startend:end_checker", {"end_phrase": END}, f"Here are tips.\n{END}", True),
    ("startend:end_checker", {"end_phrase": END}, f"Tips.\n{END.upper()}  \n\n", True),
    ("startend:end_checker", {"end_phrase": END}, f'"Tips. {END}"', True),
    ("startend:end_checker", {"end_phrase": END}, f"Tips. {END} Thanks!", False),
    ("startend:end_checker", {"end_phrase": END}, f"Tips. {END[:-1]}", False),
    ("startend:quotation", {}, '"Hello there."', True),
    ("startend:quotation", {}, '  "Hello there."\n', True),
    ("startend:quotation", {}, "“Hello there.”", True),
    ("startend:quotation", {}, '"', False),
    ("startend:quotation", {}, '"Hello" he said.', False),
    # case, commas
    ("change_case:english_lowercase", {}, "hello world, 2024!", True),
    ("change_case:english_lowercase", {}, "Hello world", False),
    ("change_case:english_lowercase", {}, "héllo naïve café", True),
    ("change_case:english_lowercase", {}, "привет мир", False),  # lower case, not Latin
    ("change_case:english_lowercase", {}, "123 456", False),  # no letters at all
    ("change_case:english_capital", {}, "HELLO WORLD! P.S. 2024", True),
    ("change_case:english_capital", {}, "HELLO World", False),
    ("change_case:english_capital", {}, "ÉCOLE NORMALE", True),
    ("change_case:english_capital", {}, "ПРИВЕТ", False),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "NASA and the USA.", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "I went WELL-KNOWN places.", True),  # "I" and "WELL-KNOWN"
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "Only ONE here.", False),
    ("change_case:capital_word_frequency",
     {"capital_frequency": 2, "capital_relation": "less than"}, "Only ONE here.", True),
    ("punctuation:no_comma", {}, "No commas here at all.", True),
    ("punctuation:no_comma", {}, "First, a comma.", False),
    ("punctuation:no_comma", {}, "全角，逗号", False),  # full-width comma
    ("punctuation:no_comma", {}, "", False),  # an empty answer follows nothing
    ("punctuation:no_comma", {}, "  \n ", False),
    # language: scripts of their own only
    ("language:response_language", {"language": "ko"}, "안녕하세요. 반갑습니다.", True),
    ("language:response_language", {"language": "ko"}, "Hello there.", False),
    ("language:response_language", {"language": "ko"},
     "안녕 hello, this answer is mostly English words.", False),
    ("language:response_language", {"language": "th"}, "สวัสดีครับ (Thai) ยินดีต้อนรับ", True),
    ("language:response_language", {"language": "kn"}, "ನಮಸ್ಕಾರ, ಹೇಗಿದ್ದೀರಾ?", True),
]


def _id(case):
    iid, _, text, ok = case
    return f"{iid}-{'pass' if ok else 'fail'}-{text[:20]!r}"


@pytest.mark.parametrize(("iid", "kwargs", "text", "ok"), CASES, ids=[_id(c) for c in CASES])
def test_checker_table(iid, kwargs, text, ok):
    verdict = follows(iid, text, kwargs)
    assert verdict.followed is ok, verdict


def test_every_registered_type_has_a_pass_and_a_fail_in_the_table():
    seen = {(iid, ok) for iid, _, _, ok in CASES}
    for iid in REGISTRY:
        assert (iid, True) in seen and (iid, False) in seen, iid


# (id, kwargs, response, strict, loose): loose also tries the response without its first and/or
# last line, and without `*`
LOOSE = [
    ("startend:end_checker", {"end_phrase": END}, f"Tips.\n{END}\n*Generated by AI*", False, True),
    ("startend:quotation", {}, 'Sure, here it is:\n"Hello there."', False, True),
    ("change_case:english_lowercase", {}, "Sure! Here it is:\nhello there", False, True),
    ("detectable_format:json_format", {}, 'Here is the JSON:\n{"a": 1}', False, True),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "summary"},
     "Intro.\n\n**Summary** of it.", False, True),
    ("punctuation:no_comma", {}, "Sure, here you go:\nno commas below", False, True),
    ("keywords:forbidden_words", {"forbidden_words": ["rock"]}, "Rock song:\nla la", False, True),
    ("detectable_format:title", {}, "<<A Title>>\nBody.", True, True),  # loose never loses
    ("punctuation:no_comma", {}, "a,\nb,\nc,", False, False),  # every variant has one
    ("punctuation:no_comma", {}, "", False, False),
    ("startend:end_checker", {"end_phrase": END}, f"{END}\n", True, True),
]


@pytest.mark.parametrize(("iid", "kwargs", "text", "strict", "loose"), LOOSE)
def test_strict_against_loose(iid, kwargs, text, strict, loose):
    assert follows(iid, text, kwargs).followed is strict
    assert follows(iid, text, kwargs, loose=True).followed is loose


@pytest.mark.parametrize(("iid", "kwargs", "names"), [
    ("keywords:frequency", {"keyword": "a", "frequency": 2}, ["relation", "missing"]),
    ("length_constraints:number_words", {"num_words": "300", "relation": "at least"},
     ["num_words", "integer", "'300'"]),
    ("length_constraints:number_words", {"num_words": True, "relation": "at least"},
     ["num_words", "True"]),
    ("length_constraints:number_words", {"num_words": -1, "relation": "at least"},
     ["num_words", ">= 0"]),
    ("length_constraints:number_words", {"num_words": 3.5, "relation": "at least"},
     ["num_words"]),
    ("length_constraints:number_words", {"num_words": 30, "relation": "at most"},
     ["relation", "'at most'", "less than"]),
    ("keywords:existence", {"keywords": "cat"}, ["keywords", "list"]),
    ("keywords:existence", {"keywords": []}, ["keywords"]),
    ("keywords:existence", {"keywords": ["cat"], "keyword": "dog"}, ["unknown kwarg 'keyword'"]),
    ("punctuation:no_comma", {"comma": 1}, ["unknown kwarg 'comma'", "takes: none"]),
    ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 1, "let_relation": "at least"},
     ["letter", "single character"]),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "x"}, ["nth_paragraph", "past"]),
    ("detectable_content:postscript", {"postscript_marker": "  "}, ["postscript_marker"]),
    ("startend:quotation", ["not", "an", "object"], ["kwargs must be an object"]),
])
def test_bad_kwargs_are_one_clear_error_naming_the_instruction(iid, kwargs, names):
    with pytest.raises(InstructionError) as err:
        follows(iid, "some answer", kwargs)
    message = str(err.value)
    assert message.startswith(iid + ":") and "\n" not in message
    for name in names:
        assert name in message, message


def test_kwargs_edge_cases_that_are_fine():
    clean = validate("keywords:existence", {"keywords": ["a"], "unused": None})
    assert clean == {"keywords": ["a"]}
    assert validate("length_constraints:number_words",
                    {"num_words": 3.0, "relation": "at least"})["num_words"] == 3
    assert validate("punctuation:no_comma", None) == {}
    assert follows("length_constraints:number_words", "a b c",
                   {"num_words": 0, "relation": "at least"}).followed is True
    assert validate("detectable_format:nonexistent", {}) == (
        "detectable_format:nonexistent: unknown instruction id")


def test_unknown_id_and_unchecked_language_are_unchecked_never_followed():
    v = follows("detectable_format:nonexistent", "anything")
    assert v.followed is None and "unknown instruction id" in v.reason
    for code, script in (("hi", "Devanagari"), ("ar", "Arabic"), ("ru", "Cyrillic")):
        v = follows("language:response_language", "any text", {"language": code})
        assert v.followed is None and script in v.reason and code in v.reason
    v = follows("language:response_language", "Ein deutscher Text.", {"language": "de"})
    assert v.followed is None and "needs a language detector" in v.reason


def test_text_counts():
    assert words("It's 3.5 km—far, isn't it?") == ["It", "s", "3", "5", "km", "far", "isn", "t",
                                                    "it"]
    assert sentences("Mr. Smith met Dr. Jones at 5 p.m. today. Then they left!") == [
        "Mr. Smith met Dr. Jones at 5 p.m. today.", "Then they left!"]
    assert sentences("J. R. R. Tolkien wrote it. (He did.) \"Yes.\" Done") == [
        "J. R. R. Tolkien wrote it.", "(He did.)", "\"Yes.\"", "Done"]
    assert sentences("") == [] and sentences("...") == []


# --- the scorer ---------------------------------------------------------------------------------


def score(text, target, scorer="ifeval", **options):
    return SCORERS[scorer](Output(text, [], target, None, options))


def target(*pairs):
    return {"instruction_id_list": [p[0] for p in pairs], "kwargs": [p[1] for p in pairs]}


NO_COMMA = ("punctuation:no_comma", {})
LOWER = ("change_case:english_lowercase", {})
HINDI = ("language:response_language", {"language": "hi"})


def test_scorer_counts_prompt_and_instruction_level():
    s = score("all lower case and no commas", target(NO_COMMA, LOWER))
    assert (s.value, s.answer, s.explanation) == (1.0, "2/2", None)
    s = score("Lower case? No, and a comma", target(NO_COMMA, LOWER))
    assert (s.value, s.answer) == (0.0, "0/2")
    assert s.explanation == "not followed: punctuation:no_comma, change_case:english_lowercase"
    s = score("lower, with a comma", target(NO_COMMA, LOWER))
    assert (s.value, s.answer, s.explanation) == (0.0, "1/2", "not followed: punctuation:no_comma")


def test_scorer_names_a_repeated_instruction_by_its_place():
    freq = ("keywords:frequency", {"keyword": "tang", "frequency": 2, "relation": "at least"})
    other = ("keywords:frequency", {"keyword": "war", "frequency": 1, "relation": "at least"})
    s = score("The Tang dynasty.", target(freq, NO_COMMA, other))
    assert (s.value, s.answer) == (0.0, "1/3")
    assert s.explanation == "not followed: keywords:frequency#1, keywords:frequency#3"


def test_scorer_leaves_unchecked_instructions_out_and_says_so():
    s = score("no commas here", target(NO_COMMA, HINDI))
    assert (s.value, s.answer) == (1.0, "1/1")
    assert s.explanation.startswith("unchecked: language:response_language (language 'hi'")
    s = score("any answer", target(HINDI))  # nothing checkable: never a silent pass
    assert (s.value, s.answer) == (0.0, "0/0")
    assert "nothing checkable" in s.explanation and "language 'hi'" in s.explanation
    assert instruction_counts(s.answer) == (0, 0)


def test_scorer_target_as_json_text_or_dict_and_loose_mode():
    t = target(("startend:quotation", {}), NO_COMMA)
    text = 'Here you go:\n"quoted and no commas"'
    for given in (t, json.dumps(t)):
        assert score(text, given).answer == "1/2"
        assert score(text, given, mode="strict").answer == "1/2"
        assert score(text, given, mode="loose").answer == "2/2"
        assert score(text, given, scorer="ifeval_loose").value == 1.0
    assert score("x", target(NO_COMMA, ("detectable_format:nonexistent", {}))).explanation == (
        "unchecked: detectable_format:nonexistent (detectable_format:nonexistent: unknown "
        "instruction id)")


@pytest.mark.parametrize(("given", "why"), [
    ("not json", "target is not JSON"),
    ({"kwargs": []}, "instruction_id_list"),
    ({"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]}, "kwargs"),
    ({"instruction_id_list": [], "kwargs": []}, "non-empty"),
    (None, "instruction_id_list"),
    (target(("keywords:frequency", {"keyword": "a", "frequency": 2, "relation": "most"})),
     "keywords:frequency: kwarg 'relation' must be one of 'less than' or 'at least', got 'most'"),
])
def test_a_bad_target_scores_zero_with_the_reason_never_raises(given, why):
    s = score("an answer", given)
    assert (s.value, s.answer) == (0.0, None)
    assert s.explanation.startswith("bad target: ") and why in s.explanation


def test_a_bad_mode_and_an_empty_answer():
    s = score("x", target(NO_COMMA), mode="lenient")
    assert s.value == 0.0 and "mode" in s.explanation and "'lenient'" in s.explanation
    s = score("", target(NO_COMMA, ("keywords:forbidden_words", {"forbidden_words": ["x"]})))
    assert (s.value, s.answer) == (0.0, "0/2")
    assert score("fine", {"instruction_id_list": ["punctuation:no_comma"]}).answer == "1/1"


def test_instruction_counts_sum_to_instruction_level_accuracy():
    answers = ["2/2", "1/3", "0/0", None, "garbage", "0/1"]
    counts = [instruction_counts(a) for a in answers]
    assert counts == [(2, 2), (1, 3), (0, 0), (0, 0), (0, 0), (0, 1)]
    followed, total = map(sum, zip(*counts, strict=True))
    assert (followed, total) == (3, 6)


# --- the registry against the shipped dataset ----------------------------------------------------


def _rows():
    return [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines()]


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Instruction following (IFEval)")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_registry_covers_every_type_of_the_dataset_and_every_row_validates():
    types = set()
    unchecked: dict[str, set[str]] = {}
    for row in _rows():
        t = row["target"]
        for iid, kwargs in zip(t["instruction_id_list"], t["kwargs"], strict=True):
            types.add(iid)
            assert iid in REGISTRY or iid in UNSUPPORTED, f"{row['id']}: {iid} silently missing"
            if iid in REGISTRY:
                clean = validate(iid, kwargs)  # raises on a bad kwarg
                verdict = follows(iid, "An answer.", kwargs)
                if verdict.followed is None:
                    unchecked.setdefault(iid, set()).add(clean["language"])
    assert len(types) == 25
    assert set(REGISTRY) | set(UNSUPPORTED) >= types
    # what is left unchecked is exactly what the README lists
    section = _readme_section()
    for iid in UNSUPPORTED:
        assert f"`{iid}`" in section, iid
    listed = set(re.findall(r"`([a-z]{2})`", section.split("Left unchecked", 1)[1]))
    assert unchecked == {"language:response_language": listed}
    for iid in REGISTRY:
        assert f"`{iid}`" in section, f"README does not name {iid}"


@pytest.mark.parametrize("text", [
    "a. " * 40_000, "[" * 60_000, "<<" * 40_000, "*" * 60_000, "Dr. " * 30_000,
    "1.\n" * 40_000, "x" * 120_000, "P.S." * 30_000, "******" * 20_000,
])
def test_checkers_stay_linear_on_long_odd_answers(text):
    """A scorer runs on whatever a model sends: no checker may take quadratic time on it."""
    import time

    start = time.perf_counter()
    for iid, checker in REGISTRY.items():
        kwargs = {name: _sample_kwarg(iid, name) for name in checker.kwargs}
        follows(iid, text, kwargs, loose=True)
    assert time.perf_counter() - start < 10


def _sample_kwarg(iid: str, name: str):
    return {"keywords": ["a"], "forbidden_words": ["a"], "keyword": "a", "letter": "a",
            "relation": "at least", "let_relation": "at least", "capital_relation": "at least",
            "section_spliter": "SECTION", "postscript_marker": "P.S.", "end_phrase": "a.",
            "prompt_to_repeat": "a. a.", "first_word": "a", "language": "ko",
            "nth_paragraph": 1}.get(name, 2)
