"""The `pipeline run` start-up and Python's cyclic garbage collector.

Loading the modules and the config allocates some 50,000 objects that live as long as the
process; the collector runs some 50 times over them before the first request could leave
(10-30 ms here), and finds next to nothing. So the command pauses it while it starts
(`pause`), and a run resumes it just before it sends (`resume`), with the objects made so
far frozen: later collections skip them, as gc.freeze() is meant for. `settle` (at the
end of the command) unfreezes them, so a process that calls the command again (tests,
embedding) keeps collecting everything.
"""

from __future__ import annotations

import gc

_state = {"paused": False, "frozen": False}


def pause() -> None:
    """Stop the collector for the start-up (not when it is off already)."""
    if gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """The start-up is over: freeze what it made, and collect again."""
    if _state["paused"]:
        _state["paused"] = False
        gc.freeze()
        _state["frozen"] = True
        gc.enable()


def settle() -> None:
    """The command is over: resume if it never did, and unfreeze the start-up's objects."""
    resume()
    if _state["frozen"]:
        _state["frozen"] = False
        gc.unfreeze()
