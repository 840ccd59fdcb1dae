"""The shape of a dataset row: the fields a sample may have, the roles of its messages, the
letters of its choices, and the `{column}` placeholders a prompt template may use.

A leaf module (it imports nothing of the project): the config checks `columns` and
`template` against it, and `datasets` builds samples by it, so neither imports the other
to learn what a row looks like.
"""

from __future__ import annotations

import string

# The canonical fields of a row; a dataset's `columns` maps them to other column names.
CANONICAL_FIELDS = (
    "id", "messages", "prompt", "target", "choices", "tools", "tool_choice", "metadata",
    "generation",
)
ROLES = frozenset({"system", "user", "assistant", "tool"})  # of a row's `messages`
LETTERS = string.ascii_uppercase  # choices are lettered A, B, ...: at most 26 of them


def template_fields(template: str) -> list[str]:
    """The columns a prompt template uses; ValueError unless it has plain {column} fields."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid template: {exc} (write {{{{ and }}}} for braces)") from None
    fields = []
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"{{{name}}} must be a column name (letters, digits, _)")
        if "{" in (spec or "") or conv:
            raise ValueError(f"{{{name}}}: only plain {{column}} placeholders are allowed")
        fields.append(name)
    return fields
