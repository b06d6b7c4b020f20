"""Tamper evidence: a manifest of the SHA-256 digest of every file of a report package, in one
canonical form, optionally signed with Ed25519 (a detached signature, `manifest.json.sig`).

The manifest carries the digest of its own content (`manifest_sha256`) and must be byte for
byte its canonical form, so no byte of it can change unnoticed either, signed or not. Without a
signature the package proves integrity (nothing changed since the manifest was written, by
whoever wrote it), not who made it; with one, whoever holds the public key knows the party that
ran the certification vouched for it.

    >>> problems, notes = verify(Path("reports/certify/acme"), public_key=None)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mockserver.errors import ConfigError
from mockserver.textsafe import shown

FORMAT = "otp-mock-certification-manifest/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
MAX_MANIFEST = 1_000_000
MAX_KEY_FILE = 65_536
MAX_FILES = 1000
UNSIGNED = ("This package is not signed: its manifest proves integrity (no file changed since the "
            "manifest was written), not who made it.")
SIGNED = ("This package is signed with Ed25519: whoever holds the signer's public key can check that "
          "the party that ran the certification vouches for it.")


def canonical(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def digest_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()


def write_manifest(folder: Path, files: Iterable[str], about: dict[str, Any],
                   key: Ed25519PrivateKey | None) -> list[str]:
    """Write manifest.json (and manifest.json.sig with a key); the names written."""
    entries = {name: {"sha256": digest_file(folder / name), "bytes": (folder / name).stat().st_size}
               for name in sorted(files)}
    signer = None
    if key is not None:
        public = key.public_key()
        signer = {"algorithm": "Ed25519", "public_key": base64.b64encode(public_bytes(public)).decode(),
                  "public_key_sha256": key_id(public)}
    body = {"format": FORMAT, "algorithm": "sha256", **about, "files": entries, "signer": signer,
            "statement": SIGNED if key is not None else UNSIGNED}
    data = canonical({**body, "manifest_sha256": hashlib.sha256(canonical(body)).hexdigest()})
    (folder / MANIFEST).write_bytes(data)
    if key is None:
        return [MANIFEST]
    (folder / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n", encoding="ascii")
    return [MANIFEST, SIGNATURE]


def verify(folder: Path, public_key: Ed25519PublicKey | None, now: float | None = None,
           shipped_sha256: str | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes): the package is intact, unexpired (and signed by `public_key`, if
    given) only when there is no problem. The notes say which profile the report was judged
    against and, given this kit's `shipped_sha256`, whether it is the shipped standard one."""
    try:
        return _verify(folder, public_key, now, shipped_sha256)
    except (OSError, ValueError, TypeError, KeyError, RecursionError, UnsupportedAlgorithm) as exc:  # never a traceback
        return [f"the package cannot be checked: {type(exc).__name__}: {_first_line(exc)}"], []


def _verify(folder: Path, public_key: Ed25519PublicKey | None, now: float | None,
            shipped_sha256: str | None) -> tuple[list[str], list[str]]:
    try:
        data = _read_small(folder / MANIFEST, MAX_MANIFEST)
        manifest = json.loads(data)
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST}: cannot be read as JSON: {exc}"], []
    except RecursionError:
        return [f"{MANIFEST}: cannot be read as JSON: nested too deeply"], []
    problems = _check_manifest(manifest, data)
    if problems:
        return problems, []
    problems += _check_files(folder, manifest["files"])
    sig_problems, notes = _check_signature(folder, data, manifest, public_key)
    notes = [*notes, *profile_notes(manifest, shipped_sha256)]
    return problems + sig_problems + _check_expiry(manifest, time.time() if now is None else now), notes


def profile_notes(manifest: dict[str, Any], shipped_sha256: str | None) -> list[str]:
    """Which profile the report was judged against, and whether it is this kit's shipped one."""
    profile = manifest.get("profile")
    if not isinstance(profile, dict) or not isinstance(profile.get("sha256"), str):
        return ["the manifest does not name the profile the report was judged against (an older package?): "
                "read report.json's profile and compare its SHA-256 with the shipped profile's"]
    name = f"{profile.get('id')} {profile.get('version')}"
    line = f"judged against profile {name} (SHA-256 {profile['sha256']}): {profile.get('standing')}"
    if shipped_sha256 is None:
        return [line]
    if profile["sha256"] == shipped_sha256:
        return [line, "the profile is byte for byte the standard profile this kit ships"]
    return [line, f"the profile is NOT the standard profile this kit ships (SHA-256 {shipped_sha256}): "
                  "the report certifies against that profile's rules, not the standard's"]


def _check_expiry(manifest: dict[str, Any], now: float) -> list[str]:
    expires = manifest.get("expires")
    try:
        when = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return [f"{MANIFEST}: expires {expires!r} is not a date and time"]
    return [f"the report expired on {expires}: certify again"] if when < now else []


def _check_manifest(manifest: Any, data: bytes) -> list[str]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return [f"{MANIFEST}: not a manifest of this kit (format {FORMAT})"]
    if canonical(manifest) != data:
        return [f"{MANIFEST}: its bytes are not its canonical form: it was edited"]
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    if hashlib.sha256(canonical(body)).hexdigest() != manifest.get("manifest_sha256"):
        return [f"{MANIFEST}: its content does not match its own digest (manifest_sha256): it was edited"]
    files = manifest.get("files")
    if not isinstance(files, dict) or not files or len(files) > MAX_FILES:
        return [f"{MANIFEST}: no list of files"]
    return []


def _check_files(folder: Path, files: dict[str, Any]) -> list[str]:
    problems = []
    for name, entry in files.items():
        path = _inside(folder, name)
        if path is None:
            problems.append(f"{shown(name)}: not a plain path inside the package")
            continue
        try:
            info = os.lstat(path)
        except OSError:
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{name}: not a regular file (a link, a folder or a device)")
        elif not isinstance(entry, dict) or digest_file(path) != entry.get("sha256"):
            problems.append(f"{name}: its SHA-256 differs from the manifest's: it was changed")
    listed = set(files) | {MANIFEST, SIGNATURE}
    for path in sorted(_walk(folder)):
        name = path.relative_to(folder).as_posix()
        if name not in listed:
            problems.append(f"{name}: in the package but not in the manifest")
    return problems


def _walk(folder: Path) -> Iterable[Path]:
    """Every entry of the package (links not followed), at most a few thousand."""
    for count, (root, dirs, names) in enumerate(os.walk(folder)):
        if count > MAX_FILES:
            return
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            yield Path(root) / name
        if not names and not dirs and Path(root) != folder:
            yield Path(root)  # an empty folder is in the package too


def _inside(folder: Path, name: str) -> Path | None:
    if not isinstance(name, str) or not name.isprintable():  # a NUL or a control character is no file name
        return None
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or "\\" in name:
        return None
    return folder.joinpath(*parts)


def _check_signature(folder: Path, data: bytes, manifest: dict[str, Any],
                     public_key: Ed25519PublicKey | None) -> tuple[list[str], list[str]]:
    signer = manifest.get("signer")
    sig_path = folder / SIGNATURE
    if signer is None:
        if public_key is not None:
            return ["the package is not signed, but --public-key asks for a signature"], []
        if sig_path.exists():
            return [f"{SIGNATURE}: present, but the manifest names no signer"], []
        return [], ["not signed: the digests prove integrity, not who made the package"]
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(signer["public_key"], validate=True))
        text = _read_small(sig_path, 200).decode("ascii")
        signature = base64.b64decode(text.removesuffix("\n"), validate=True)
        if base64.b64encode(signature).decode() + "\n" != text:
            raise ValueError("not in its canonical form")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{SIGNATURE}: missing or unreadable ({exc})"], []
    key = public_key or embedded
    if public_key is not None and public_bytes(public_key) != public_bytes(embedded):
        return [f"signed by key {key_id(embedded)[:16]}..., not by the --public-key given "
                f"({key_id(public_key)[:16]}...)"], []
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return [f"{SIGNATURE}: the signature does not match the manifest"], []
    if public_key is None:
        return [], [f"signed by key {key_id(embedded)}, which this check did not vouch for: pass "
                    "--public-key with the certifier's public key to know who signed"]
    return [], [f"signed by the --public-key given ({key_id(public_key)})"]


def _read_small(path: Path, limit: int) -> bytes:
    """A regular file of at most `limit` bytes (no FIFO, no device, no link to one)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data


def load_private_key(path: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8, `openssl genpkey -algorithm ed25519`) or
    OpenSSH (`ssh-keygen -t ed25519`) file; a password from OTP_MOCK_SIGNING_KEY_PASSWORD."""
    data = _key_data(path, "signing key")
    password = os.environ.get("OTP_MOCK_SIGNING_KEY_PASSWORD")
    secret = password.encode() if password else None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key: Any = serialization.load_ssh_private_key(data, secret)
        else:
            key = serialization.load_pem_private_key(data, secret)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{path}: not a usable private key ({_first_line(exc)}); make one with "
                          "`otp-mock certify keygen KEYFILE`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key ({type(key).__name__}); certification signs with Ed25519")
    return key


def load_public_key(path: str) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file or an OpenSSH `ssh-ed25519 ...` line."""
    data = _key_data(path, "public key")
    try:
        if data.lstrip().startswith(b"ssh-"):
            key: Any = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{path}: not a usable public key ({_first_line(exc)})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key ({type(key).__name__})")
    return key


def _key_data(path: str, what: str) -> bytes:
    try:
        return _read_small(Path(path), MAX_KEY_FILE)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read the {what}: {reason}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def new_key_files(path: Path) -> Path:
    """Write a new Ed25519 private key (PEM, owner-only) and its public key beside it
    (`PATH.pub`); refuses to overwrite. Returns the public key's path."""
    public_path = path.with_name(path.name + ".pub")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for target in (path, public_path):
        if target.exists() or target.is_symlink():
            raise ConfigError(f"{target}: exists already; keygen never overwrites a key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private)
        public_path.write_bytes(public)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the key: {exc.strerror}") from None
    return public_path
