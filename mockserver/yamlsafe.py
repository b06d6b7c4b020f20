"""Load YAML safely and remember where each value came from (line and column). Used for every
file the kit reads: scenarios, settings, keys and starting templates.

Safe means: only plain YAML types (no `!!python/...` tags), a size limit, and a budget on the
number of nodes once aliases are expanded, so an alias bomb is refused before anything walks it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mockserver.errors import ConfigError
from mockserver.textsafe import shown

KeyPath = tuple[str | int, ...]
MAX_BYTES = 1_000_000
MAX_NODES = 20_000
MAX_DEPTH = 64


@dataclass
class Marks:
    """Where each path of a loaded document starts: its value, and its key in a mapping."""

    source: str
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: KeyPath, key: bool = False) -> str:
        """`file:line:col` of a path, or of its nearest ancestor that has a mark."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self.values.get(path[:end])
            if found:
                return f"{self.source}:{found[0]}:{found[1]}"
        return self.source


def load(text: str, source: str, unique_keys: bool = False) -> tuple[Any, Marks]:
    """The document and the marks of its values; ConfigError names file, line and column.
    With `unique_keys`, a key given twice in one mapping is an error naming both lines (the
    certification profile: YAML's last-wins would let a copy hide a second, weaker value);
    scenarios, settings and keys files keep YAML's last-wins."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise ConfigError(f"{source}: file is larger than {MAX_BYTES} bytes")
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a NUL or another character YAML refuses, found on reading
        raise ConfigError(f"{source}:{_line_col(text, exc.position)}: {_character(exc.character)} is not "
                          "allowed in YAML") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Marks(source)
        marks = Marks(source)
        _walk(node, (), marks, [0], 0, unique_keys)
        try:
            return loader.construct_document(node), marks
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. an unquoted date that is no date
            bad = _unconstructable(loader, node)
            where = _mark(source, bad) if bad is not None else source
            raise ConfigError(f"{where}: a value YAML reads as a date or number is not one ({exc}); "
                              "quote it to keep it as text") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:  # a NUL or another character YAML refuses
        raise ConfigError(f"{source}:{_line_col(text, exc.position)}: {_character(exc.character)} is not "
                          "allowed in YAML") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply for a scenario file") from None
    finally:
        loader.dispose()


def read(path: Path | str, what: str) -> Any:
    """A whole YAML file, loaded safely; ConfigError says which file, where and what."""
    return load(read_text(path, what), str(path))[0]


def read_text(path: Path | str, what: str) -> str:
    """A regular file's text, read by at most MAX_BYTES + 1 bytes: a FIFO, a device (a link to
    /dev/zero) or a folder is refused before anything waits on it or reads without end."""
    file = Path(path)
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the {what}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{file}: the {what} is not a regular file (a folder, a FIFO or a device); "
                              "give a file")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{file}: the {what} is larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{file}:{line}:{column}: the {what} is not UTF-8 text (byte {data[exc.start]:#04x} "
                          f"at offset {exc.start})") from None


def _walk(node: yaml.Node, path: KeyPath, marks: Marks, count: list[int], depth: int,
          unique_keys: bool = False) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ConfigError(f"{marks.source}: more than {MAX_NODES} values once aliases are expanded "
                          "(an alias bomb?); write the values out or use fewer aliases")
    if depth > MAX_DEPTH:
        raise ConfigError(f"{_mark(marks.source, node)}: nested deeper than {MAX_DEPTH} levels")
    marks.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            if unique_keys and isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key in first:
                    raise ConfigError(f"{_mark(marks.source, key_node)}: duplicate key {shown(key, 60)!r} "
                                      f"(first at line {first[key].start_mark.line + 1}); give each key once")
                first[key] = key_node
            marks.keys.setdefault((*path, key), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            _walk(value_node, (*path, key), marks, count, depth + 1, unique_keys)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), marks, count, depth + 1, unique_keys)


def _mark(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _line_col(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    return f"{line}:{position - (text.rfind(chr(10), 0, position) + 1) + 1}"


def _unconstructable(loader: yaml.SafeLoader, root: yaml.Node) -> yaml.Node | None:
    """The first scalar of a document that cannot be made a value (a date such as 2024-13-45),
    to name its line; bounded by the nodes the walk counted."""
    stack = [root]
    for _ in range(MAX_NODES + 1):
        if not stack:
            return None
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            loader.constructed_objects, loader.recursive_objects = {}, {}  # what the failed construction left
            try:
                loader.construct_object(node, deep=True)
            except (ValueError, TypeError, OverflowError, yaml.YAMLError):
                return node
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None


def _character(character: object) -> str:
    return f"character U+{character:04X}" if isinstance(character, int) else f"character {character!r}"
