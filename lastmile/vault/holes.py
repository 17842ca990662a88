"""Removing ciphertext ranges from pack files: punch a hole where the file system can, else write zeros.

`clear_spans(fd, spans)` makes every byte of the given (offset, length) spans of an open file read back as
zero, then fsyncs the file once. Adjacent or overlapping spans are merged first, so a purge of many blobs
stored back to back costs one system call per run of neighbours, not one per blob.

`clear_spans(fd, spans, free=False)` clears without freeing the blocks, where the file system can do that
in constant time (`FALLOC_FL_ZERO_RANGE`: ext4 and XFS turn the extents into "unwritten" ones, which read
as zeros): freeing blocks costs the file system time in proportion to the bytes freed (on a volume mounted
with `discard`, about a second per 5 GB on the machine where this was measured), so a retention run clears
its ranges this way and frees the space in a separate step (`retention.purge.reclaim_space`, punching the
same spans). Where zero-range is not supported, `free=False` punches (or writes zeros) as `free=True` does.

* **Hole punching** (Linux `fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)`,
  called through libc with ctypes since Python's `os` has no `fallocate` with flags): the file system
  frees the whole blocks inside the span and zeroes the partial blocks at its two ends; the file keeps its
  size, so no other range moves. The cost does not depend on the span's length beyond the bookkeeping of
  the freed extents.
* **Zeroing** (the fallback): where the file system or platform answers that punching is not supported
  (`EOPNOTSUPP`/`ENOTSUP`, or no `fallocate` at all, as on macOS), the span is overwritten in place with
  zeros (`pwrite`), which costs a write of its whole length and frees no space. Any other error is raised.

Neither way scrubs the storage medium: a copy-on-write or log-structured file system, or a flash drive,
may keep the old physical blocks until it reuses them. What makes a purged artifact unrecoverable is its
destroyed data key (and the destroyed key-encryption key that wrapped it); removing the ciphertext from the
file is defence in depth, and frees the space where holes are supported.
"""

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable, Iterable
from functools import cache

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
PUNCH = "punch"  # holes punched
UNWRITTEN = "unwritten"  # turned into unwritten extents (read as zeros; blocks kept until punched)
ZERO = "zero"  # overwritten with zeros (punching unsupported here)
UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
_ZEROS = bytes(1024 * 1024)

Fallocate = Callable[[int, int, int, int], int]


@cache
def _libc_fallocate() -> Fallocate | None:
    """libc's fallocate (64-bit offsets), or None where the C library has none (not Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    fn = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    fn = _libc_fallocate()
    if fn is None:
        raise OSError(errno.EOPNOTSUPP, "fallocate is not available on this platform")
    if fn(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Deallocate [offset, offset + length) of the file, keeping its size (the range then reads as zeros).
    `OSError` with errno EOPNOTSUPP where the file system or platform cannot."""
    _fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)


def zero_range(fd: int, offset: int, length: int) -> None:
    """Make [offset, offset + length) read as zeros without freeing its blocks (unwritten extents: metadata
    only, whatever the length), keeping the file's size. `OSError` with errno EOPNOTSUPP where the file
    system or platform cannot (tmpfs, btrfs, macOS)."""
    _fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length)


def write_zeros(fd: int, offset: int, length: int) -> None:
    """Overwrite [offset, offset + length) with zeros, in place."""
    end = offset + length
    zeros = memoryview(_ZEROS)
    while offset < end:
        offset += os.pwrite(fd, zeros[: min(len(_ZEROS), end - offset)], offset)


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """(offset, length) spans sorted, with adjacent or overlapping ones merged; empty ones dropped."""
    merged: list[list[int]] = []
    for start, length in sorted(spans):
        if length <= 0:
            continue
        end = start + length
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end - start) for start, end in merged]


def clear_spans(fd: int, spans: Iterable[tuple[int, int]], *, size: int | None = None, free: bool = True) -> str:
    """Make the spans of the open file `fd` read as zeros (holes where supported, else zeros written),
    clipped to `size` (the file's length) if given, then fsync once. `free=False`: unwritten extents
    instead of holes where the file system has them (constant time; the blocks stay allocated until the
    spans are cleared again with `free=True`). Returns UNWRITTEN, PUNCH or ZERO (the way the last span was
    cleared; UNWRITTEN or PUNCH when there was nothing to clear)."""
    how = PUNCH if free else UNWRITTEN
    for start, length in merge_spans(spans):
        if size is not None:
            length = min(start + length, size) - start
            if length <= 0:
                continue
        if how == UNWRITTEN:
            try:
                zero_range(fd, start, length)
                continue
            except OSError as exc:
                if exc.errno not in UNSUPPORTED:
                    raise
                how = PUNCH
        if how == PUNCH:
            try:
                punch_hole(fd, start, length)
                continue
            except OSError as exc:
                if exc.errno not in UNSUPPORTED:
                    raise
                how = ZERO
        write_zeros(fd, start, length)
    os.fsync(fd)
    return how


def _supported(directory: os.PathLike[str] | str, clear: Callable[[int, int, int], None]) -> bool:
    path = os.path.join(directory, f".punch-probe-{os.getpid()}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.pwrite(fd, b"\xff" * 65536, 0)
        try:
            clear(fd, 0, 65536)
        except OSError as exc:
            if exc.errno in UNSUPPORTED:
                return False
            raise
        return True
    finally:
        os.close(fd)
        os.unlink(path)


def punching_supported(directory: os.PathLike[str] | str) -> bool:
    """Whether the file system holding `directory` punches holes (tried on a scratch file there)."""
    return _supported(directory, punch_hole)


def zero_range_supported(directory: os.PathLike[str] | str) -> bool:
    """Whether the file system holding `directory` has unwritten extents (`zero_range`; tried there)."""
    return _supported(directory, zero_range)
