"""Run folders in an S3-compatible object store (`output_dir = "s3://bucket/prefix"`).

A run works in a local working copy of its folder (`<cache>/s3/<bucket>/<prefix>/<run_id>`,
the cache being `$PIPELINE_CACHE_DIR`, else `$XDG_CACHE_HOME/pipeline`, else
`~/.cache/pipeline`) and a `Syncer` copies it to the store: the journal while the run goes
on, everything at the end. S3 has no append, so the journal is stored as segment objects
`<run_id>/journal/<start byte>.jsonl`, each holding the complete lines written since the last
sync (its cost is the new bytes, not the whole journal); `attach` and `fetch` chain them from
byte 0 back into `journal.jsonl`. At the end of an invocation the whole journal is uploaded as
the segment at byte 0 and the segments it covers are deleted (compaction: a fresh machine then
downloads one object, not one per tick). The uploading side, the `Syncer`, is
`pipeline.store_sync`; this module lists, fetches and restores.

The client is pyarrow's `S3FileSystem` (Apache Arrow's C++ S3 client over the AWS SDK):
pyarrow is already a dependency, so the store costs no new one. Credentials come from
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, the region from
`AWS_REGION`/`AWS_DEFAULT_REGION`, the endpoint of a non-AWS store from
`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (pyarrow ignores those two itself,
apache/arrow#49643, so they are read here and passed as `endpoint_override`). None of them
is ever written anywhere; errors that might quote them are scrubbed.

This module moves bytes; it does not know what the files mean.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import InputError, RunStateError
from pipeline.runfolder import MANIFEST, atomic_write, read_manifest
from pipeline.store_sync import (
    JOURNAL,
    JUDGE_JOURNAL,
    SEGMENT_RE,
    SEGMENTS,
    Syncer,
    read_state,
    starts_with,
    write_state,
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True, slots=True)
class S3Url:
    """`s3://bucket/prefix`: where a config's run folders go."""

    bucket: str
    prefix: str = ""  # without leading or trailing '/'

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def path(self, *parts: str) -> str:
        """The store path (pyarrow's `bucket/key` form) of parts under the prefix."""
        return "/".join(p for p in (self.bucket, self.prefix, *parts) if p)


def scheme_of(output_dir: str) -> str | None:
    """The URL scheme of an output_dir (`s3`), or None for a local folder."""
    m = _SCHEME.match(output_dir)
    return m.group(1).lower() if m else None


def is_store(output_dir: str) -> bool:
    """Whether output_dir names an object store rather than a local folder."""
    return scheme_of(output_dir) is not None


def parse_s3_url(url: str) -> S3Url:
    """Parse `s3://bucket/prefix`; ValueError (which never repeats a credential) if not one."""
    scheme = scheme_of(url)
    if scheme != "s3":
        shown = f"{scheme}://" if scheme else repr(url)
        raise ValueError(f"{shown} is not supported: use a local folder or s3://bucket/prefix")
    host = url.split("://", 1)[1].split("/", 1)[0]
    if "@" in url or ":" in host:  # a secret key may hold '/': look at the whole URL
        raise ValueError("s3://...@...: credentials do not belong in the URL (it is written to "
                         "the manifest); export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"{url}: no '?' or '#' allowed; use s3://bucket/prefix")
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"{url}: {bucket!r} is not a bucket name (3-63 lowercase letters, "
                         "digits, '.', '-')")
    prefix = parts.path.strip("/")
    segments = prefix.split("/") if prefix else []
    if any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"{url}: the prefix has an empty, '.' or '..' part")
    return S3Url(bucket, prefix)


def check_output_dir(value: str) -> str:
    """Validate output_dir for the config: a local folder, or an s3:// URL (ValueError)."""
    if is_store(value):
        parse_s3_url(value)
    return value


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where working copies of stored run folders live."""
    env = os.environ if env is None else env
    if env.get("PIPELINE_CACHE_DIR"):
        return Path(env["PIPELINE_CACHE_DIR"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "pipeline"
    return Path.home() / ".cache" / "pipeline"


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def _os_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _settings(url: S3Url, env: Mapping[str, str]) -> dict[str, Any]:
    """S3FileSystem's arguments from the AWS environment variables (InputError if unusable)."""
    missing = [k for k in _CREDENTIALS[:2] if not env.get(k, "").strip()]
    if missing:
        raise InputError(f"output_dir {url}: {' and '.join(missing)} not set (export the "
                         "store's credentials; they are read only from the environment)")
    endpoint = (env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or "").strip()
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise InputError(f"output_dir {url}: AWS_ENDPOINT_URL(_S3) must be "
                             "http(s)://host[:port] without credentials")
    from pyarrow import fs as pafs

    kwargs: dict[str, Any] = {
        "access_key": env["AWS_ACCESS_KEY_ID"].strip(),
        "secret_key": env["AWS_SECRET_ACCESS_KEY"].strip(),
        "session_token": env.get("AWS_SESSION_TOKEN") or None,
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "connect_timeout": 10, "request_timeout": 60,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        # one PutObject for an object under 5 MB, not three multipart requests (GH-40557)
        "allow_delayed_open": True,
    }
    if endpoint:
        kwargs["endpoint_override"] = endpoint
    return kwargs


class Store:
    """A config's run folders in the object store, and local working copies of them."""

    def __init__(self, url: S3Url, fs: Any, cache: Path, *, secrets: Sequence[str] = ()) -> None:
        self.url, self.fs, self.cache = url, fs, cache
        self._secrets = tuple(s for s in secrets if s)

    @classmethod
    def open(cls, output_dir: str, env: Mapping[str, str] | None = None) -> Store:
        """Connect with the AWS environment variables and check the bucket is there (one
        request); InputError naming output_dir and how to fix it otherwise."""
        env = os.environ if env is None else env
        try:
            url = parse_s3_url(output_dir)
        except ValueError as exc:
            raise InputError(f"output_dir: {exc}") from None
        kwargs = _settings(url, env)
        endpoint = kwargs.get("endpoint_override")
        secrets = [env.get(k, "") for k in _CREDENTIALS]
        from pyarrow import fs as pafs

        store = cls(url, pafs.S3FileSystem(**kwargs), cache_dir(env), secrets=secrets)
        try:
            info = store.fs.get_file_info(url.bucket)
        except OSError as exc:
            raise InputError(f"output_dir {url}: cannot reach the store ({store._err(exc)}); "
                             "check AWS_ENDPOINT_URL, the credentials and the network") from None
        if info.type.name == "NotFound":
            raise InputError(f"output_dir {url}: bucket {url.bucket!r} does not exist "
                             f"at {endpoint or 'AWS S3'} (create it, or fix the URL)")
        return store

    # -- plumbing ------------------------------------------------------------------------------
    def _err(self, exc: BaseException) -> str:
        return _scrub(_os_error(exc), self._secrets)

    def _put(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path, metadata={}) as f:
            f.write(data)

    def _get(self, path: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _list(self, path: str) -> list[Any]:
        from pyarrow import fs as pafs

        return self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))

    def working_copy(self, run_id: str) -> Path:
        """The local folder a run of this store works in."""
        base = self.cache / "s3" / self.url.bucket
        return base.joinpath(*self.url.prefix.split("/"), run_id) if self.url.prefix \
            else base / run_id

    # -- listing -------------------------------------------------------------------------------
    def run_ids(self) -> list[str]:
        """Every run id under the prefix (one listing request)."""
        return sorted(i.base_name for i in self._list(self.url.path())
                      if i.type.name == "Directory")

    def exists(self, run_id: str) -> bool:
        """Whether the store holds anything of this run."""
        return bool(self._list(self.url.path(run_id)))

    def manifest(self, run_id: str) -> dict[str, Any] | None:
        """A stored run's manifest, or None if it has none."""
        data = self._get(self.url.path(run_id, MANIFEST))
        if data is None:
            return None
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise RunStateError(f"{self.url}/{run_id}/{MANIFEST}: corrupt manifest") from None

    def runs(self, name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(run id, manifest) of every stored run (of config `name`), oldest first."""
        found = []
        for run_id in self.run_ids():
            m = self.manifest(run_id)
            if m is not None and (name is None or m.get("name") == name):
                found.append((run_id, m))
        # same second: -2 sorts after the first, as runfolder.latest_run does
        return sorted(found, key=lambda r: (str(r[1].get("created_at", "")), r[0]))

    def latest_run(self, name: str) -> str | None:
        """The id of the most recently started stored run of config `name`."""
        runs = self.runs(name)
        return runs[-1][0] if runs else None

    # -- the journal's segments ----------------------------------------------------------------
    def _segments(self, run_id: str) -> list[tuple[int, int, str]]:
        """(start byte, size, path) of each stored journal segment, by start."""
        out = []
        for info in self._list(self.url.path(run_id, SEGMENTS)):
            m = SEGMENT_RE.match(info.base_name)
            if m and info.type.name == "File":
                out.append((int(m.group(1)), info.size or 0, info.path))
        return sorted(out)

    @staticmethod
    def _chain(segments: list[tuple[int, int, str]]) -> tuple[list[str], int]:
        """The segments that make the journal from byte 0 (the longest one at each start:
        a compacted segment covers the small ones it replaced), and its length."""
        by_start: dict[int, tuple[int, str]] = {}
        for start, size, path in segments:
            if size > by_start.get(start, (-1, ""))[0]:
                by_start[start] = (size, path)
        chain, end = [], 0
        while end in by_start and by_start[end][0] > 0:
            size, path = by_start[end]
            chain.append(path)
            end += size
        return chain, end

    def _download_journal(self, run_id: str, dest: Path) -> int:
        """Write the stored journal to `dest`; returns its length in bytes."""
        chain, end = self._chain(self._segments(run_id))
        with ThreadPoolExecutor(max_workers=8) as pool:  # many small segments after a kill
            parts = list(pool.map(self._get, chain))
        if any(p is None for p in parts):
            raise RunStateError(f"{self.url}/{run_id}: a journal segment vanished while it was "
                                "read (is another machine running this run?)")

        def write(p: Path) -> None:
            with p.open("wb") as f:
                for part in parts:
                    f.write(part)  # type: ignore[arg-type]

        atomic_write(dest, write)
        return end

    # -- restore and fetch ---------------------------------------------------------------------
    def fetch(self, run_id: str, names: Sequence[str] | None = None) -> Path:
        """A local folder holding a stored run's files (`names`, or all of them; the journal
        assembled from its segments): for reading, e.g. a baseline or a history entry."""
        folder = self.working_copy(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        if names is None:
            names = sorted({i.base_name for i in self._list(self.url.path(run_id))
                            if i.type.name == "File"} | {JOURNAL})
        for name in names:
            if name == JOURNAL:
                self._download_journal(run_id, folder / JOURNAL)
                continue
            data = self._get(self.url.path(run_id, name))
            if data is not None:
                atomic_write(folder / name, lambda p, d=data: p.write_bytes(d))
        return folder

    def attach(self, run_id: str) -> Syncer:
        """Make the run's working copy current with the store, and return its syncer. Call it
        under the run's lock.

        A working copy that holds the stored journal (and maybe lines not uploaded yet: the
        syncer sends them next) is kept; when its record of what it uploaded matches the
        store, without downloading anything. Otherwise the store's manifest and journal
        replace the local ones, and a local journal replaced is kept aside as
        `.journal-replaced-*.jsonl` with a warning."""
        folder = self.working_copy(run_id)
        chain, end = self._chain(self._segments(run_id))
        state = read_state(folder)
        local = folder / JOURNAL
        local_size = local.stat().st_size if local.exists() else 0
        warnings: list[str] = []
        stored_manifest = self._get(self.url.path(run_id, MANIFEST))
        known = state.get("url") == str(self.url) and state.get("offset") == end
        if not (known and local_size >= end) and (end or stored_manifest is not None):
            folder.mkdir(parents=True, exist_ok=True)
            fetched = folder / ".journal-from-store.jsonl"
            self._download_journal(run_id, fetched)
            if ((folder / MANIFEST).exists() or stored_manifest is None) \
                    and local_size >= end and starts_with(local, fetched):
                fetched.unlink()  # this copy holds the stored journal, and maybe more
            else:
                if local_size:
                    aside = folder / f".journal-replaced-{os.getpid()}.jsonl"
                    local.replace(aside)
                    warnings.append(f"{local}: the working copy differed from "
                                    f"{self.url}/{run_id} and was replaced by the store's "
                                    f"copy; the old journal is kept at {aside}")
                fetched.replace(local)
                if stored_manifest is not None:
                    atomic_write(folder / MANIFEST, lambda p: p.write_bytes(stored_manifest))
        write_state(folder, self.url, end)  # what this copy knows the store holds
        syncer = Syncer(self, run_id, folder, offset=end, compacted=len(chain) <= 1)
        syncer.judge_size = self._attach_judge(run_id, folder)
        syncer.warnings += warnings
        return syncer

    def _attach_judge(self, run_id: str, folder: Path) -> int:
        """Bring the working copy's judge.jsonl level with the store's (another machine's
        verdicts are paid for: never asked again); a local one that holds the stored one and
        more is kept. Returns the stored size."""
        stored = self._get(self.url.path(run_id, JUDGE_JOURNAL))
        if stored is None:
            return 0
        local = folder / JUDGE_JOURNAL
        have = local.read_bytes() if local.exists() else b""
        if not have.startswith(stored):
            if have:
                aside = folder / f".judge-replaced-{os.getpid()}.jsonl"
                local.replace(aside)
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(local, lambda p: p.write_bytes(stored))
        return len(stored)


def open_store(output_dir: str, env: Mapping[str, str] | None = None) -> Store | None:
    """The store of an output_dir, or None for a local folder."""
    return Store.open(output_dir, env) if is_store(output_dir) else None


def store_problems(output_dir: str, env: Mapping[str, str] | None = None, *,
                   online: bool = False) -> list[str]:
    """For `pipeline validate`: what stops output_dir's store from being used (its variables;
    with `online`, whether the bucket answers), one line each."""
    if not is_store(output_dir):
        return []
    try:
        if online:
            Store.open(output_dir, env)
        else:
            _settings(parse_s3_url(output_dir), os.environ if env is None else env)
    except InputError as exc:
        return [str(exc)]
    except ValueError as exc:
        return [f"output_dir: {exc}"]
    return []


def list_runs(output_dir: str, name: str | None = None, *,
              env: Mapping[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(run id, manifest) of every run under output_dir (a folder or s3://), of config
    `name` if given, oldest first: for `pipeline history` and `--baseline latest`."""
    store = open_store(output_dir, env)
    if store is not None:
        return store.runs(name)
    base = Path(output_dir)
    found = []
    if base.is_dir():
        for folder in base.iterdir():
            m = read_manifest(folder) if folder.is_dir() else None
            if m and (name is None or m.get("name") == name):
                found.append((folder.name, m))
    return sorted(found, key=lambda r: (str(r[1].get("created_at", "")), r[0]))


def run_files(output_dir: str, run_id: str, names: Sequence[str] | None = None, *,
              env: Mapping[str, str] | None = None) -> Path:
    """A local folder with a run's files: `<output_dir>/<run_id>`, or for s3:// a working copy
    with `names` (default all) fetched from the store."""
    store = open_store(output_dir, env)
    if store is None:
        return Path(output_dir) / run_id
    return store.fetch(run_id, names)


async def attach(store: Store | None, run_id: str) -> Syncer | None:
    """`Store.attach` in a worker thread (None without a store); InputError if the store
    cannot be read, before anything is sent."""
    import anyio

    if store is None:
        return None
    try:
        return await anyio.to_thread.run_sync(store.attach, run_id)
    except OSError as exc:
        raise InputError(f"output_dir {store.url}: cannot read run {run_id} from the store "
                         f"({store._err(exc)}); check the credentials and the network") from None


async def announce(syncer: Syncer | None) -> None:
    """Upload the manifest as a run starts: it reserves the run id in the store and proves
    the credentials may write, before anything is sent (InputError otherwise)."""
    import anyio

    if syncer is None:
        return
    try:
        await anyio.to_thread.run_sync(syncer.put, MANIFEST)
    except OSError as exc:
        raise InputError(f"output_dir {syncer.store.url}: cannot write to the store "
                         f"({syncer.error(exc)}); check the credentials' permissions; "
                         "nothing was sent") from None


def syncing(syncer: Syncer | None, every_s: float) -> Any:
    """`syncer.running(every_s)`, or a context that does nothing without a store."""
    return nullcontext() if syncer is None else syncer.running(every_s)
