"""What a process workload keeps on disk (``process.py``): its folder ``<data_dir>/workloads/<id>/``,
its record ``workload.json`` (the environment sealed when there is a secret box) and its bounded
``output.log``."""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import datetime
from pathlib import Path

import msgspec

from tesserra_core.errors import NotFound
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadState
from tesserra_core.ports.secrets_at_rest import SecretBox


class WorkloadRecord(msgspec.Struct, kw_only=True):
    """What ``workload.json`` holds."""

    id: str
    spec: WorkloadSpec
    state: WorkloadState
    ports: dict[int, int] = {}
    pid: int | None = None
    start_ticks: int | None = None
    boot_id: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    paused: bool = False
    """Its process group was sent SIGSTOP (``pause``) and not yet SIGCONT."""
    uid: int | None = None
    """The workload's own uid in the sandbox (None: it runs as the server's user)."""
    pasta_pid: int | None = None
    pasta_ticks: int | None = None
    sealed_env: str | None = None
    """The spec's environment sealed with the secret box (it carries installations' secrets); the
    file then holds ``spec.env`` empty."""


_WORKLOAD_ID = re.compile(r"[0-9a-f]{32}")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(WorkloadRecord)


class WorkloadFiles:
    """The workloads' folders under ``root``: one per workload, named by its id."""

    def __init__(self, root: Path, *, log_bytes: int, box: SecretBox | None) -> None:
        self._root = root
        self._log_bytes = log_bytes
        self._box = box
        """With a box, environments are sealed at rest in ``workload.json`` (secrets never lie there in clear)."""

    def create(self, record: WorkloadRecord) -> None:
        folder = self.folder(record.id)
        folder.mkdir(parents=True, mode=0o700)
        (folder / "home").mkdir(mode=0o700)
        self.save(record)

    def records(self) -> tuple[WorkloadRecord, ...]:
        if not self._root.is_dir():
            return ()
        records = []
        for folder in sorted(self._root.iterdir()):
            with contextlib.suppress(NotFound):
                records.append(self.load(folder.name))
        return tuple(records)

    def folder(self, workload_id: str) -> Path:
        if _WORKLOAD_ID.fullmatch(workload_id) is None:
            raise NotFound(f"no workload {workload_id}")
        return self._root / workload_id

    def load(self, workload_id: str) -> WorkloadRecord:
        try:
            record = _decoder.decode((self.folder(workload_id) / "workload.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError, msgspec.DecodeError):
            raise NotFound(f"no workload {workload_id}") from None
        if record.sealed_env is not None and self._box is not None:
            env = json.loads(self._box.open(record.sealed_env, context=f"workload:{record.id}:env"))
            record.spec = msgspec.structs.replace(record.spec, env=env)
            record.sealed_env = None
        return record

    def _sealed(self, record: WorkloadRecord) -> WorkloadRecord:
        if self._box is None or not record.spec.env:
            return record
        sealed = self._box.seal(json.dumps(dict(record.spec.env)).encode(), context=f"workload:{record.id}:env")
        return msgspec.structs.replace(record, spec=msgspec.structs.replace(record.spec, env={}), sealed_env=sealed)

    def save(self, record: WorkloadRecord) -> None:
        path = self.folder(record.id) / "workload.json"
        tmp = path.with_name(f".workload.{os.getpid()}.json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_encoder.encode(self._sealed(record)))
        tmp.replace(path)

    def trim(self, workload_id: str) -> None:
        """Keep the log bounded: past ``log_bytes``, keep its newest half (same file, so writers go on)."""
        path = self.folder(workload_id) / "output.log"
        try:
            if path.stat().st_size <= self._log_bytes:
                return
            with path.open("r+b") as f:
                f.seek(-(self._log_bytes // 2), os.SEEK_END)
                kept = f.read()
                f.seek(0)
                f.write(kept)
                f.truncate(len(kept))
        except OSError:
            return

    def tail(self, workload_id: str, lines: int) -> str:
        """The last ``lines`` lines of the log (at most ``log_bytes`` of it)."""
        path = self.folder(workload_id) / "output.log"
        try:
            with path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - self._log_bytes))
                data = f.read()
        except FileNotFoundError:
            return ""
        kept = data.decode(errors="replace").splitlines()[-lines:]
        return "".join(f"{line}\n" for line in kept)
