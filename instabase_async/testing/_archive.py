"""Unpacking a zip archive of the fake's store into a folder of it, all or nothing.

The archive is read where it lies (in memory or in its spilled file), each entry is checked
before anything is unpacked (an absolute name, a drive letter or a ``..`` segment would land
outside the target folder: zip-slip), the entries are unpacked into a detached folder, and that
folder is merged into the store only if nothing in the way conflicts. A failure therefore leaves
the store as it was. The store's lock is held by the caller.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import BinaryIO

from ._store import (
    CHUNK_BYTES,
    BlobWriter,
    FileNode,
    FileStore,
    FolderNode,
    StoreConflict,
    check_merge,
    discard_tree,
)

__all__ = ["MAX_UNPACKED_BYTES", "extract_zip"]

#: The most bytes one archive may unpack to (a guard against zip bombs in a test fake).
MAX_UNPACKED_BYTES = 2 * 1024**3
_DRIVE = re.compile(r"^[A-Za-z]:")

Path = tuple[str, ...]


def _entry_path(name: str) -> Path:
    """The segments of an entry name; ``ValueError`` for one that would escape the target."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\x00" in name:
        raise ValueError(f"refusing to extract {name!r}: it would land outside the target folder")
    return tuple(part for part in parts if part not in ("", "."))


def _open(node: FileNode) -> BinaryIO:
    if node.disk_path is not None:
        return open(node.disk_path, "rb")
    return io.BytesIO(node.data or b"")


def _unpack(store: FileStore, archive: zipfile.ZipFile, label: str) -> FolderNode:
    """Every entry of ``archive`` in a new folder that is not yet part of the store."""
    entries = [(_entry_path(info.filename), info) for info in archive.infolist()]
    if sum(info.file_size for _, info in entries) > MAX_UNPACKED_BYTES:
        raise ValueError(f"{label} would unpack to more than {MAX_UNPACKED_BYTES} bytes")
    staging = FileStore()  # only its tree is used: large entries spill into the store's own folder
    written: list[FileNode] = []
    try:
        for segments, info in entries:
            if not segments:
                continue
            if info.is_dir():
                staging.mkdir(segments)
                continue
            writer = BlobWriter(store)
            with archive.open(info) as member:
                for chunk in iter(lambda: member.read(CHUNK_BYTES), b""):
                    writer.write(chunk)
            node = writer.finish()
            written.append(node)
            staging.put_file(segments, node)
    except BaseException:
        for node in written:
            node.discard()
        raise
    return staging.root


def _merge(store: FileStore, new: FolderNode, where: Path) -> None:
    store.mkdir(where)
    for name, child in new.children.items():
        if isinstance(child, FolderNode):
            _merge(store, child, (*where, name))
        else:
            store.put_file((*where, name), child)


def extract_zip(store: FileStore, source: Path, target: Path) -> None:
    """Unpack the zip file at ``source`` into the folder ``target`` (made if missing), or raise
    with the store unchanged: ``FileNotFoundError``, ``ValueError`` (not a zip, zip-slip, too
    large), :class:`StoreConflict` (a file where a folder must be, or the other way round)."""
    label = repr("/".join(source))
    node = store.get(source)
    if node is None:
        raise FileNotFoundError(f"no file at {label}")
    if not isinstance(node, FileNode):
        raise ValueError(f"{label} is a folder, not a zip archive")
    with _open(node) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except zipfile.BadZipFile:
            raise ValueError(f"{label} is not a zip archive") from None
        with archive:
            unpacked = _unpack(store, archive, label)
    try:
        check_merge(store.get(target), unpacked, target)
    except StoreConflict:
        discard_tree(unpacked)
        raise
    _merge(store, unpacked, target)
