"""The user-facing error tree: every failure a user can cause or meet ends here.

    PipelineError                  one clear line for the user, and an exit code
     ├── InputError (exit 2)       the user's input is wrong; nothing was sent
     │    ├── ConfigError          a config field: file, field path, how to fix
     │    └── DatasetError         a dataset row: file, line/row, how to fix
     ├── RunStateError (exit 2)    the run folder disagrees with the config (resume)
     └── RunError (exit 3)         the run could not finish (the journal cannot be written)

Failures of single requests are not exceptions here: they become error rows
(see `pipeline.client.ChatError`).
"""

from __future__ import annotations

# The command's exit codes (pipeline.outcome decides among them from a finished run folder;
# here so the command line has them without importing the gates and their tables).
EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug; 1 is a failed gate
EXIT_OUTPUT = 74  # EX_IOERR: stdout could not be written (a full disk)
EXIT_PIPE = 141  # the shell's code for a closed pipe (128 + SIGPIPE): `pipeline ... | head`


class PipelineError(Exception):
    """Base of every error the CLI turns into one line and an exit code (2 unless a subclass
    says otherwise; 1 is reserved for a failed gate)."""

    exit_code = 2

    @staticmethod
    def usage(message: str) -> InputError:
        """A command-line usage error (exit 2)."""
        return InputError(message)


class InputError(PipelineError):
    """The user's input is wrong; nothing has been sent."""

    exit_code = 2


class ConfigError(InputError):
    """A config value is missing, unknown or out of range (one or several: one line each)."""

    def __init__(self, where: str, problem: str, hint: str = "") -> None:
        self.where, self.problem, self.hint = where, problem, hint
        text = f"{where}: {problem}"
        super().__init__(f"{text} ({hint})" if hint else text)

    @classmethod
    def many(cls, problems: list[tuple[str, str]]) -> ConfigError:
        """One error reporting every (where, problem), a line each."""
        err = cls(*problems[0])
        if len(problems) > 1:
            err.args = ("\n".join(f"{w}: {p}" for w, p in problems),)
        return err


class DatasetError(InputError):
    """A dataset file or row cannot be turned into a sample."""

    def __init__(self, where: str, problem: str, hint: str = "") -> None:
        self.where, self.problem, self.hint = where, problem, hint
        text = f"{where}: {problem}"
        super().__init__(f"{text} ({hint})" if hint else text)


class RunStateError(PipelineError):
    """The run folder on disk cannot be resumed with this config."""

    exit_code = 2


class RunError(PipelineError):
    """The run could not finish; what was journaled is kept and a rerun resumes."""

    exit_code = 3


def error_text(kind: str | None, message: str | None) -> str:
    """A recorded error as one line, 'kind: message', without the kind twice when the
    message starts with it ('connection: connection: ...')."""
    message = message or ""
    if kind and not message.startswith(f"{kind}:"):
        return f"{kind}: {message}" if message else kind
    return message or "error"
