"""The fake's file store: a tree of folders and files kept in memory.

Paths are tuples of segments (the file API has decoded them, ``%2F`` being a separator there
as on Instabase). Small files live in ``bytes``; a file that
grows past :data:`SPILL_BYTES` while it is written is spilled to a private temporary folder,
so a 1 GiB upload costs disk, not memory. A file's content never changes once written: a
write builds a new blob and swaps it in, so a download that is under way keeps reading the
version it started with (on POSIX an unlinked file stays readable while open).

The store does no locking of its own: :class:`~instabase_async.testing._state.State` holds
one lock around every call.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = [
    "CHUNK_BYTES",
    "SPILL_BYTES",
    "BlobWriter",
    "FileNode",
    "FileStore",
    "FolderNode",
    "Node",
    "PathError",
    "StoreConflict",
    "check_merge",
    "discard_tree",
    "split_path",
    "validate_segments",
]

#: A file written past this many bytes moves from memory to a temporary file on disk.
SPILL_BYTES = 4 * 1024 * 1024
#: Size of the chunks a download is sent in.
CHUNK_BYTES = 1024 * 1024

Path = tuple[str, ...]


class PathError(ValueError):
    """A path with an empty, ``.`` or ``..`` segment, or a NUL: the server answers 400."""


class StoreConflict(Exception):
    """The operation meets a node of the wrong kind (a file where a folder must be, ...)."""


def validate_segments(segments: Path) -> Path:
    """Return ``segments`` unchanged, or raise :class:`PathError` for a segment the API refuses."""
    for segment in segments:
        if segment in ("", ".", "..") or "\x00" in segment:
            raise PathError(f"invalid path segment {segment!r}")
    return segments


def split_path(path: str) -> Path:
    """Split a textual Instabase path (``"owner/repo/fs/Drive/a.txt"``) into segments.

    One leading ``/`` is ignored, as the API does, and one trailing ``/`` too (the documents
    write folders that way). ``""`` and ``"/"`` are the root.
    """
    text = path.removeprefix("/").removesuffix("/")
    if not text:
        return ()
    return validate_segments(tuple(text.split("/")))


@dataclass(slots=True, eq=False)
class FileNode:
    """A stored file: its bytes in memory, or the name of the temporary file that holds them."""

    data: bytes | None
    disk_path: str | None
    size: int
    modified: float

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes ``start..end`` (``end`` exclusive, default the end) in 1 MiB chunks."""
        stop = self.size if end is None else min(end, self.size)
        if self.data is not None:
            view = memoryview(self.data)
            for offset in range(start, stop, CHUNK_BYTES):
                yield bytes(view[offset : min(offset + CHUNK_BYTES, stop)])
            return
        assert self.disk_path is not None
        with open(self.disk_path, "rb") as handle:
            handle.seek(start)
            position = start
            while position < stop:
                chunk = handle.read(min(CHUNK_BYTES, stop - position))
                if not chunk:  # truncated under us: end the body rather than spin
                    return
                position += len(chunk)
                yield chunk

    def read(self) -> bytes:
        """The whole content (for small files: tests, handler scripts, package.json)."""
        return b"".join(self.chunks())

    def discard(self) -> None:
        """Forget the content; remove its temporary file if it has one."""
        if self.disk_path is not None:
            try:
                os.unlink(self.disk_path)
            except OSError:
                pass
            self.disk_path = None


@dataclass(slots=True, eq=False)
class FolderNode:
    """A stored folder: children by name, in no particular order (listings sort them)."""

    children: dict[str, Node] = field(default_factory=dict)
    modified: float = field(default_factory=time.time)


Node = FileNode | FolderNode


class BlobWriter:
    """Collects the body of one upload, in memory until :data:`SPILL_BYTES`, then on disk.

    Call :meth:`write` for each chunk, then :meth:`finish` for the finished :class:`FileNode`,
    or :meth:`abort` if the upload failed.
    """

    def __init__(self, store: FileStore, initial: FileNode | None = None) -> None:
        self._store = store
        self._buffer = bytearray()
        self._handle: BinaryIO | None = None
        self._disk_path: str | None = None
        self.size = 0
        if initial is not None:  # append: start from a copy of the existing content
            for chunk in initial.chunks():
                self.write(chunk)

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; move everything to disk once the file is large."""
        self.size += len(chunk)
        if self._handle is not None:
            self._handle.write(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) > SPILL_BYTES:
            fd, self._disk_path = tempfile.mkstemp(dir=self._store.spill_dir(), suffix=".blob")
            self._handle = os.fdopen(fd, "wb")
            self._handle.write(self._buffer)
            self._buffer = bytearray()

    def finish(self) -> FileNode:
        """The written file, ready to be put in the tree."""
        now = time.time()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            return FileNode(data=None, disk_path=self._disk_path, size=self.size, modified=now)
        return FileNode(data=bytes(self._buffer), disk_path=None, size=self.size, modified=now)

    def abort(self) -> None:
        """Drop what was written (the upload failed or was refused)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._disk_path is not None:
            try:
                os.unlink(self._disk_path)
            except OSError:
                pass
        self._buffer = bytearray()


class FileStore:
    """The tree of folders and files under one root folder."""

    def __init__(self) -> None:
        self.root = FolderNode()
        self._spill_dir: str | None = None
        self._finalizer: weakref.finalize[..., FileStore] | None = None

    def spill_dir(self) -> str:
        """The private temporary folder for large files, made on first use, removed with the store."""
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="instabase-fake-")
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._spill_dir, True)
        return self._spill_dir

    def close(self) -> None:
        """Remove every spilled file now (the store stays usable and spills anew if needed)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
            self._spill_dir = None

    def get(self, path: Path) -> Node | None:
        """The node at ``path``, or ``None``."""
        node: Node = self.root
        for segment in path:
            if not isinstance(node, FolderNode):
                return None
            child = node.children.get(segment)
            if child is None:
                return None
            node = child
        return node

    def _folder(self, path: Path, *, create: bool) -> FolderNode | None:
        """The folder at ``path``, made (with its parents) when ``create``; a file on the way conflicts."""
        node: FolderNode = self.root
        for segment in path:
            child = node.children.get(segment)
            if child is None:
                if not create:
                    return None
                child = FolderNode()
                node.children[segment] = child
                node.modified = time.time()
            if not isinstance(child, FolderNode):
                raise StoreConflict(f"{'/'.join(path)!r}: {segment!r} is a file, not a folder")
            node = child
        return node

    def put_file(self, path: Path, new: FileNode, *, exclusive: bool = False) -> bool:
        """Store ``new`` at ``path``, making parents; return whether the file is new.

        ``exclusive`` refuses (with :class:`FileExistsError`) when something is there already.
        A folder at ``path`` is a :class:`StoreConflict`.
        """
        if not path:
            raise StoreConflict("cannot write a file at the root")
        parent = self._folder(path[:-1], create=True)
        assert parent is not None
        old = parent.children.get(path[-1])
        if old is not None and exclusive:
            raise FileExistsError("/".join(path))
        if isinstance(old, FolderNode):
            raise StoreConflict(f"{'/'.join(path)!r} is a folder")
        parent.children[path[-1]] = new
        parent.modified = new.modified
        if old is not None:
            old.discard()
        return old is None

    def mkdir(self, path: Path, *, exist_ok: bool = True) -> bool:
        """Make the folder ``path`` and its parents; return whether it is new."""
        existing = self.get(path)
        if existing is not None:
            if isinstance(existing, FileNode):
                raise StoreConflict(f"{'/'.join(path)!r} is a file")
            if not exist_ok:
                raise FileExistsError("/".join(path))
            return False
        self._folder(path, create=True)
        return True

    def remove(self, path: Path) -> bool:
        """Remove the file or folder (with its content) at ``path``; return whether it existed."""
        if not path:
            return False
        parent = self.get(path[:-1])
        if not isinstance(parent, FolderNode) or path[-1] not in parent.children:
            return False
        removed = parent.children.pop(path[-1])
        parent.modified = time.time()
        discard_tree(removed)
        return True

    def children(self, path: Path) -> list[tuple[str, Node]]:
        """The children of the folder ``path`` sorted by name (raises ``NotADirectoryError``/``KeyError``)."""
        node = self.get(path)
        if node is None:
            raise KeyError("/".join(path))
        if not isinstance(node, FolderNode):
            raise NotADirectoryError("/".join(path))
        return sorted(node.children.items())

    def copy(self, source: Path, target: Path) -> bool:
        """Copy the file or folder ``source`` to ``target``; return whether ``source`` existed."""
        if target[: len(source)] == source:
            raise StoreConflict("cannot copy a folder into itself")
        node = self.get(source)
        if node is None:
            return False
        check_merge(self.get(target), node, target)  # so that a conflict copies nothing
        if isinstance(node, FileNode):
            writer = BlobWriter(self, node)
            self.put_file(target, writer.finish())
            return True
        self.mkdir(target)
        for name, _child in self.children(source):
            self.copy((*source, name), (*target, name))
        return True


def discard_tree(node: Node) -> None:
    """Release the disk space of every file under ``node`` (a bounded walk of a finite tree)."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, FileNode):
            current.discard()
        else:
            stack.extend(current.children.values())


def check_merge(existing: Node | None, new: Node, where: Path) -> None:
    """Raise :class:`StoreConflict` if putting ``new`` at ``where``, over ``existing``, would meet
    a file where a folder is or the other way round (folders merge, files replace files)."""
    if existing is None:
        return
    if isinstance(new, FolderNode) != isinstance(existing, FolderNode):
        kind = "folder" if isinstance(existing, FolderNode) else "file"
        raise StoreConflict(f"{'/'.join(where)!r} is a {kind} already")
    if isinstance(new, FolderNode) and isinstance(existing, FolderNode):
        for name, child in new.children.items():
            check_merge(existing.children.get(name), child, (*where, name))
