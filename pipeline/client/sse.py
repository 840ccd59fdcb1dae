"""A small incremental server-sent-events decoder (WHATWG rules) fed with raw byte chunks."""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class ServerSentEvent:
    """One dispatched event: its name ("message" unless `event:` said otherwise) and data."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Split byte chunks into lines (across chunk boundaries, any line ending) and events."""

    __slots__ = ("_pending", "_event", "_data", "_id", "_retry", "_start", "_skip_lf")

    def __init__(self) -> None:
        self._pending = b""
        self._start = True  # the first line may begin with a UTF-8 BOM, which is dropped
        self._skip_lf = False  # the last chunk ended in "\r": a "\n" next is the same line end
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume a chunk and return the events it completed."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._pending:
            chunk = self._pending + chunk
        lines = chunk.splitlines(keepends=True)
        # Hold back an unterminated last line. A line ended by "\r" is complete now (a server
        # may send nothing more until it closes), so it is not held back for a "\n" to follow.
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._pending = lines.pop()
        else:
            self._pending = b""
            if lines and lines[-1][-1:] == b"\r":
                self._skip_lf = True
        if self._start and lines:
            self._start = False
            lines[0] = lines[0].removeprefix(_BOM)
        events: list[ServerSentEvent] = []
        for raw in lines:
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if line.startswith("data: "):  # the hot path
                self._data.append(line[6:])
                continue
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: finish a last unterminated line and dispatch a pending event."""
        events: list[ServerSentEvent] = []
        if self._pending:
            line, self._pending = self._pending.rstrip(b"\r\n"), b""
            if self._start:
                self._start = False
                line = line.removeprefix(_BOM)
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        event = self._line("")
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry":
            if value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and self._event is None:
            return None
        event = ServerSentEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._id,
            retry=self._retry,
        )
        self._event = None
        self._data = []
        return event
