"""Keep secrets out of everything a run prints or writes.

The dev_secret and the Authorization value it makes are replaced by `***` in report files and,
through `MaskingStream`, in whatever reaches stdout and stderr while the suites run.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

MASK = "***"


class Masker:
    """Replaces every form of the credentials that must never be shown."""

    def __init__(self, dev_key: str, dev_secret: str) -> None:
        token = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode("ascii")
        forms = {dev_secret, token, f"Basic {token}"}
        # Longest first, so "Basic <token>" is masked whole before its parts.
        self._forms = sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def leaks(self, text: str) -> bool:
        """Whether `text` still holds a secret (used by the final scrub and by tests)."""
        return any(form in text for form in self._forms)

    def scrub_files(self, paths: Iterable[Path]) -> list[Path]:
        """Mask secrets inside files in place; returns the files that had to be changed."""
        changed = []
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if self.leaks(text):
                path.write_text(self(text), encoding="utf-8")
                changed.append(path)
        return changed


class MaskingStream(io.TextIOBase):
    """A text stream that masks secrets before they reach the wrapped stream."""

    def __init__(self, wrapped: TextIO, masker: Masker) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._masker = masker

    def write(self, text: str) -> int:
        self._wrapped.write(self._masker(text))
        return len(text)

    def flush(self) -> None:
        self._wrapped.flush()

    def fileno(self) -> int:
        return self._wrapped.fileno()

    def isatty(self) -> bool:
        return self._wrapped.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._wrapped, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._wrapped, "errors", None)
