"""The report package of a session: one folder that says everything and hides every secret.

    report.json            partner, dates, kit, profile and contract with their SHA-256, the
                           session, timings, every requirement with its result, reason and findings,
                           and the exchanges the findings cite (report.schema.json is its schema)
    report.html            the same, readable and printable, with no external asset (html.py)
    junit.xml              one test case per requirement, for CI dashboards (junit.py)
    evidence/requests.jsonl  every request of the session and its reply, one JSON object a line
    evidence/profile.yaml  the profile exactly as it was used
    manifest.json (+ .sig) the SHA-256 of every file above, signed with a key (manifest.py)

Every string goes through the Masker before it is written.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import statistics
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mockserver.certify import html, junit, manifest
from mockserver.certify.masking import Masker
from mockserver.certify.profile import Profile
from mockserver.certify.records import Record
from mockserver.certify.report_schema import FORMAT, REPORT
from mockserver.certify.results import Requirement, counts, overall
from mockserver.certify.session import SessionOutcome
from mockserver.contract import Contract
from mockserver.errors import ConfigError

KIT = "otp-mock-kit"
EVIDENCE = "evidence/requests.jsonl"
PROFILE_COPY = "evidence/profile.yaml"
FILES = ("report.json", "report.schema.json", "report.html", "junit.xml", EVIDENCE, PROFILE_COPY)
EVIDENCE_BUDGET = 32 << 20  # bytes of bodies the evidence keeps; later bodies are left out
EXCHANGES_PER_REQUIREMENT = 20  # exchanges report.json embeds for one requirement's findings


@dataclass(frozen=True)
class Package:
    """Everything a report is made of."""

    partner: str
    profile: Profile
    contract: Contract
    requirements: list[Requirement]
    records: list[Record]
    outcome: SessionOutcome
    base_url: str
    dev_key: str
    store: str
    judging_seconds: float
    public_key_sha256: str | None = None


def iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_folder(folder: Path) -> None:
    """The report folder must be new or empty, so the package holds only its own files, and
    writable: it is made (if new) and a probe file written and removed before the session."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ConfigError(f"--report-dir {folder}: not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise ConfigError(f"--report-dir {folder}: not empty; give a new folder (a package holds only its own files)")
    try:  # found now, not after the session: the folder can be made and written
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".otp-mock-probe-{uuid.uuid4().hex}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--report-dir {folder}: cannot write there ({exc.strerror or exc}); give a folder "
                          "you can write") from None


def build(package: Package, masker: Masker, created: float) -> dict[str, Any]:
    """report.json's content, masked."""
    profile, outcome, requirements = package.profile, package.outcome, package.requirements
    info = package.contract.document.get("info", {})
    durations = [r.seen.elapsed * 1000 if r.seen else r.duration_ms for r in package.records]
    report = {
        "format": FORMAT, "id": str(uuid.uuid4()), "partner": package.partner,
        "created": iso(created), "expires": iso(created + profile.validity_days * 86400),
        "result": overall(requirements),
        "summary": {**counts(requirements), "requirements": len(requirements), "requests": len(package.records)},
        "kit": {"name": KIT, "version": kit_version(), "sha256": kit_digest()},
        "profile": {"id": profile.id, "version": profile.version, "title": profile.title, "source": profile.source,
                    "sha256": profile.sha256, "documentation": profile.documentation,
                    "shipped": profile.shipped, "standing": profile.standing},
        "contract": {"title": str(info.get("title", "")), "version": str(info.get("version", "")),
                     "source": Path(package.contract.source).name, "sha256": file_digest(package.contract.source)},
        "session": {"mode": outcome.mode, "command": list(outcome.command), "base_url": package.base_url,
                    "dev_key": package.dev_key, "store": package.store, "started": iso(outcome.started),
                    "ended": iso(outcome.ended), "duration_seconds": round(outcome.ended - outcome.started, 3),
                    "ended_by": outcome.ended_by, "exit_status": outcome.exit_status,
                    "requests": len(package.records)},
        "timings": {"session_seconds": round(outcome.ended - outcome.started, 3),
                    "judging_seconds": round(package.judging_seconds, 3),
                    "request_p50_ms": round(statistics.median(durations), 3) if durations else None,
                    "request_max_ms": round(max(durations), 3) if durations else None},
        "signing": {"signed": package.public_key_sha256 is not None,
                    "statement": manifest.SIGNED if package.public_key_sha256 else manifest.UNSIGNED,
                    "public_key_sha256": package.public_key_sha256},
        "requirements": [r.as_json() for r in requirements],
        "exchanges": {},
        "evidence": {"requests": EVIDENCE, "profile": PROFILE_COPY, "records": len(package.records),
                     "omitted_bodies": 0},
    }
    masked: dict[str, Any] = masker.value(report)
    masked["id"] = report["id"]  # the kit's own values: a UUID is no phone number
    masked["exchanges"] = _exchanges(package, masker)
    return masked


def _exchanges(package: Package, masker: Masker) -> dict[str, Any]:
    by_id = {r.id: r for r in package.records}
    cited: set[int] = set()
    for requirement in package.requirements:
        cited.update(requirement.records()[:EXCHANGES_PER_REQUIREMENT])
    return {str(i): masker.record(by_id[i].as_json()) for i in sorted(cited) if i in by_id}


def evidence_lines(records: list[Record], masker: Masker) -> tuple[list[bytes], int]:
    """The evidence file's lines, masked; bodies past EVIDENCE_BUDGET are left out (counted)."""
    lines, spent, omitted = [], 0, 0
    for record in records:
        row = masker.record(record.as_json())
        size = len(row.get("body") or "") + len(row.get("reply") or "")
        if spent + size > EVIDENCE_BUDGET:
            row["body"] = row["reply"] = None
            row["omitted"] = f"bodies left out: the evidence keeps at most {EVIDENCE_BUDGET} bytes of them"
            omitted += 1
        else:
            spent += size
        lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
    return lines, omitted


def write(folder: Path, package: Package, masker: Masker, key: Ed25519PrivateKey | None,
          created: float) -> dict[str, Any]:
    """Write the whole package into `folder` (new or empty); the report written."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evidence").mkdir(exist_ok=True)
    report = build(package, masker, created)
    lines, omitted = evidence_lines(package.records, masker)
    report["evidence"]["omitted_bodies"] = omitted
    _write(folder / EVIDENCE, b"".join(lines))
    _write(folder / PROFILE_COPY, package.profile.text.encode("utf-8"))
    _write(folder / "report.json", _json(report))
    _write(folder / "report.schema.json", _json(REPORT))
    _write(folder / "report.html", html.render(report).encode("utf-8"))
    _write(folder / "junit.xml", junit.render(report))
    about = {"report": {"id": report["id"], "partner": report["partner"], "result": report["result"]},
             "created": report["created"], "expires": report["expires"],
             "tool": {"name": KIT, "version": report["kit"]["version"], "sha256": report["kit"]["sha256"]},
             "profile": {k: report["profile"][k] for k in ("id", "version", "sha256", "shipped", "standing")}}
    manifest.write_manifest(folder, FILES, about, key)
    return report


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never through a planted link
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def file_digest(path: str) -> str:
    return manifest.digest_file(Path(path))


def kit_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(KIT)
    except metadata.PackageNotFoundError:  # a source tree without an installed kit: its __init__.py says
        text = (Path(__file__).resolve().parent.parent / "__init__.py").read_text(encoding="utf-8")
        found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
        return found.group(1) if found else "unknown"


@functools.lru_cache(maxsize=1)
def kit_digest() -> str:
    """The SHA-256 of the kit's own files (code, contract, scenarios): which build certified."""
    root = Path(__file__).resolve().parent.parent
    sha = hashlib.sha256()
    for path in sorted(_kit_files(root)):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0")
        sha.update(hashlib.sha256(path.read_bytes()).digest())
    return sha.hexdigest()


def _kit_files(root: Path) -> Iterator[Path]:
    for count, (folder, dirs, names) in enumerate(os.walk(root, followlinks=True)):
        if count > 200:  # the package has a dozen folders: a link loop stops here
            return
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if name.endswith((".py", ".yaml", ".md", ".json", ".typed")):
                yield Path(folder) / name
