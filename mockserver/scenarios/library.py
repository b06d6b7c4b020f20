"""The scenario files of a folder, reloaded when they change.

A broken edit keeps the last good version running; the error is logged and listed by the
control plane until the file is fixed.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mockserver.contract import Contract
from mockserver.errors import ConfigError
from mockserver.scenarios.loader import load_file
from mockserver.scenarios.model import Scenario

log = logging.getLogger("mockserver.scenarios")
PATTERNS = ("*.yaml", "*.yml")


@dataclass(frozen=True)
class FileError:
    file: str
    message: str
    at: float


class Library:
    """Scenarios by name, from one folder; `refresh()` reloads changed files (cheaply)."""

    def __init__(self, folder: Path | None, contract: Contract, check_every: float = 0.5) -> None:
        self.folder = folder
        self.contract = contract
        self.check_every = check_every
        self._lock = threading.Lock()
        self._by_file: dict[Path, Scenario] = {}
        self._by_name: dict[str, Scenario] = {}  # rebuilt (and swapped whole) after each change
        self._stamps: dict[Path, tuple[float, int]] = {}
        self._errors: dict[str, FileError] = {}
        self._checked = 0.0
        self.refresh(force=True)

    @property
    def scenarios(self) -> dict[str, Scenario]:
        return dict(self._by_name)

    def get(self, name: str) -> Scenario | None:
        return self._by_name.get(name)

    @property
    def errors(self) -> dict[str, FileError]:
        """Files rejected since they last loaded cleanly (a copy, safe to iterate)."""
        with self._lock:
            return dict(self._errors)

    def refresh(self, force: bool = False) -> None:
        """Reload files whose size or modification time changed; at most every `check_every` s."""
        now = time.monotonic()
        if self.folder is None or (not force and now - self._checked < self.check_every):
            return
        with self._lock:
            self._checked = now
            files = sorted({p for pattern in PATTERNS for p in self.folder.glob(pattern)})
            gone = set(self._stamps) - set(files)
            for path in gone:
                self._stamps.pop(path, None)
                self._by_file.pop(path, None)
                self._errors.pop(str(path), None)
            if gone:  # a file that lost a name clash may load now: try the rejected ones again
                for path in [p for p in self._stamps if str(p) in self._errors]:
                    del self._stamps[path]
            for path in files:
                self._reload(path)
            self._by_name = {s.name: s for s in self._by_file.values()}

    def _reload(self, path: Path) -> None:
        try:
            stat = path.stat()
        except OSError:
            return
        stamp = (stat.st_mtime, stat.st_size)
        if self._stamps.get(path) == stamp:
            return
        self._stamps[path] = stamp
        try:
            scenario = load_file(path, self.contract, _label(path))
            self._check_unique(path, scenario)
        except Exception as exc:  # noqa: BLE001 - any broken file is reported, never fatal
            kept = " (the last good version keeps running)" if path in self._by_file else ""
            self._errors[str(path)] = FileError(str(path), str(exc), time.time())
            log.warning("scenario file rejected%s: %s", kept, exc)
            return
        if path in self._by_file:
            log.info("scenario %r reloaded from %s", scenario.name, _label(path))
        self._by_file[path] = scenario
        self._errors.pop(str(path), None)

    def _check_unique(self, path: Path, scenario: Scenario) -> None:
        for other, existing in self._by_file.items():
            if other != path and existing.name == scenario.name:
                raise ConfigError(f"{_label(path)}: scenario name {scenario.name!r} is already used by "
                                  f"{_label(other)}")


def _label(path: Path) -> str:
    """The file as messages name it: relative to the working folder when it is inside."""
    return _label_in(path, os.getcwd())


@functools.lru_cache(maxsize=1024)
def _label_in(path: Path, cwd: str) -> str:
    # Cached: resolving a path walks its components (a third of building a mock, measured).
    try:
        return str(path.resolve().relative_to(cwd))
    except ValueError:
        return str(path)
