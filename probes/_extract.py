"""Unpacking a gzip'd tarball as it streams in, without trusting a byte of it.

One pass: the compressed bytes are hashed and counted as they arrive (the caller compares them
with the index only at the end), inflated with :mod:`zlib` and read by a small tar reader written
for this job instead of :mod:`tarfile`, so that every size is bounded *before* memory is spent on
it and nothing depends on the Python version of the site.  The tree lands in an empty private
directory that is renamed into place only after the checksum matched.

The reader knows ustar, POSIX pax (``x`` headers; ``g`` headers only for harmless keys) and GNU
long names (``L`` / ``K``): what ``pps release create``, GNU tar and Python write.  Refused, with
the member named: absolute names and ``..``; names or links with a NUL, a component longer than
255 bytes or a path longer than 4096; pax or long-name headers over 64 KiB; hard links; devices,
FIFOs, sparse and multi-volume members; setuid, setgid and sticky bits; symbolic links that are
absolute or lead outside the tree (also through other links); writing through a symbolic link;
a member that clashes with another; more members, or more unpacked bytes, than the limits; a
corrupt header, a bad gzip stream, a truncated one.  Modes are made sane whatever the archive
says: directories 0755, files 0644 or 0755, nothing group- or world-writable.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

from pps.errors import IntegrityError
from pps.record import Record

#: Limits against archive bombs; a grid client tree is far below each.
MAX_MEMBERS = 200_000
MAX_HEADER_BYTES = 64 << 10
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
#: Inflated bytes allowed beyond the unpacked limit (headers, padding, end blocks).
HEADER_ALLOWANCE = 64 << 20
_OUT_CHUNK = 256 << 10
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)


class UnsafeArchive(IntegrityError):
    """The tarball holds something a site must not unpack (or is not a tarball)."""


class SizeExceeded(IntegrityError):
    """More compressed bytes arrived than the release may have."""


class CompressedInput:
    """Compressed chunks in, inflated bytes out; hashes and counts what came in.

    *max_in* bounds the compressed bytes (one more is an error), *max_out* the inflated ones.
    """

    def __init__(self, chunks: Iterator[bytes], *, max_in: int, max_out: int, name: str) -> None:
        self._chunks = chunks
        self.max_in = max_in
        self.max_out = max_out
        self.name = name
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.out_total = 0
        self._z = zlib.decompressobj(31)
        self._pending = b""  # compressed bytes not yet given to zlib
        self._buf = b""
        self._pos = 0
        self._done = False

    def next_compressed(self) -> bytes:
        for chunk in self._chunks:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self.max_in:
                raise SizeExceeded(f"more than {self.max_in} bytes")
            self.sha256.update(chunk)
            return chunk
        return b""

    def _inflate(self) -> bytes:
        """The next inflated bytes, ``b""`` at the end of the stream."""
        while True:
            z = self._z
            if z.unconsumed_tail:
                data = z.unconsumed_tail
            elif z.eof:
                rest = z.unused_data or self.next_compressed()
                if not rest:
                    return b""
                self._z = z = zlib.decompressobj(31)  # another gzip member follows
                data = rest
            else:
                data = self.next_compressed()
                if not data:
                    raise UnsafeArchive(
                        f"tarball {self.name} is truncated (the gzip stream ends early)"
                    )
            try:
                out = z.decompress(data, _OUT_CHUNK)
            except zlib.error as e:
                raise UnsafeArchive(
                    f"tarball {self.name} is not a valid gzip stream: {e}"
                ) from None
            if out:
                self.out_total += len(out)
                if self.out_total > self.max_out:
                    raise UnsafeArchive(
                        f"unsafe tarball {self.name}: it inflates to more than {self.max_out} bytes"
                    )
                return out

    def take(self, n: int) -> memoryview:
        """Up to *n* (> 0) inflated bytes; empty only at the end of the stream."""
        if self._pos >= len(self._buf):
            if self._done:
                return memoryview(b"")
            self._buf, self._pos = self._inflate(), 0
            if not self._buf:
                self._done = True
                return memoryview(b"")
        end = min(len(self._buf), self._pos + n)
        view = memoryview(self._buf)[self._pos : end]
        self._pos = end
        return view

    def read_exact(self, n: int) -> bytes | None:
        """Exactly *n* bytes; ``None`` at a clean end of stream (no byte of them available)."""
        first = self.take(n)
        if len(first) == n:
            return first.tobytes()
        if not first:
            return None
        parts = [first.tobytes()]
        got = len(first)
        while got < n:
            more = self.take(n - got)
            if not more:
                raise UnsafeArchive(f"tarball {self.name} is truncated inside a member")
            parts.append(more.tobytes())
            got += len(more)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        while n > 0:
            got = self.take(min(n, _OUT_CHUNK))
            if not got:
                raise UnsafeArchive(f"tarball {self.name} is truncated inside a member")
            n -= len(got)

    def drain(self) -> None:
        """Read (and hash) every compressed byte left, inflating nothing."""
        while self.next_compressed():
            pass


def _number(field: bytes, what: str, name: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for values octal cannot hold
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise UnsafeArchive(f"unsafe tarball {name}: a negative {what}")
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise UnsafeArchive(f"tarball {name} has a corrupt header ({what} {text[:20]!r})") from None


def _checksum_ok(block: bytes) -> bool:
    stored = block[148:156].split(b"\0", 1)[0].strip(b" ")
    try:
        want = int(stored, 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:])  # the checksum field counts as spaces
    if want == unsigned:
        return True
    # Some old tars summed signed chars: every byte over 127 then counts 256 less.
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return want == unsigned - 256 * high


def _parse_pax(data: bytes, name: str) -> dict[str, bytes]:
    """Records ``"LEN KEY=VALUE\\n"`` of a pax header (strictly)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # NUL padding after the last record
            if data[pos:].strip(b"\0"):
                break
            return records
        space = data.find(b" ", pos, pos + 12)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1 : end] != b"\n" or space < 0:
            break
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            break
        records[key.decode("utf-8", "replace")] = value
        pos = end
    else:
        return records
    raise UnsafeArchive(f"tarball {name} has a corrupt pax header")


def _decode_name(raw: bytes, what: str, archive: str) -> str:
    if b"\0" in raw:
        raise UnsafeArchive(f"unsafe tarball {archive}: a {what} with a NUL byte")
    if len(raw) > MAX_PATH_BYTES:
        raise UnsafeArchive(
            f"unsafe tarball {archive}: a {what} longer than {MAX_PATH_BYTES} bytes "
            f"({raw[:40].decode('utf-8', 'replace')!r}...)"
        )
    return raw.decode("utf-8", "surrogateescape")


def _relative_parts(name: str, archive: str) -> tuple[str, ...]:
    if name.startswith("/"):
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} is an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} leaves the tree ('..')")
    for p in parts:
        if len(os.fsencode(p)) > MAX_NAME_BYTES:
            raise UnsafeArchive(
                f"unsafe tarball {archive}: member {name[:60]!r} has a name component longer "
                f"than {MAX_NAME_BYTES} bytes"
            )
    return parts


def _check_link_target(parts: tuple[str, ...], target: str, name: str, archive: str) -> None:
    """A symbolic link's target must stay in the tree, counted from the link's directory."""
    outside = UnsafeArchive(
        f"unsafe tarball {archive}: symbolic link {name!r} points to {target!r}, outside the tree"
    )
    if not target or target.startswith("/"):
        raise outside
    depth = len(parts) - 1
    for p in target.split("/"):
        if p == "..":
            depth -= 1
            if depth < 0:
                raise outside
        elif p not in ("", "."):
            depth += 1


_KINDS = {
    b"1": "a hard link",
    b"3": "a device",
    b"4": "a device",
    b"6": "a FIFO",
    b"S": "a sparse file",
    b"M": "a multi-volume continuation",
    b"V": "a volume label",
    b"N": "an old GNU long-name member",
}


class _Tree:
    """The directory being filled: creates parents 0755 as needed, never through a link."""

    def __init__(self, root: Path, archive: str) -> None:
        self.root = root
        self.archive = archive
        self.dirs: set[tuple[str, ...]] = {()}
        self.links: list[Path] = []

    def parent(self, parts: tuple[str, ...], name: str) -> str:
        """The member's parent directory (created as needed); its path."""
        parent = parts[:-1]
        if parent not in self.dirs:
            current = self.root
            for i, p in enumerate(parent, 1):
                current = current / p
                if parts[:i] in self.dirs:
                    continue
                try:
                    st = os.lstat(current)
                except FileNotFoundError:
                    os.mkdir(current, 0o755)
                    os.chmod(current, 0o755)  # whatever the umask
                else:
                    if not stat.S_ISDIR(st.st_mode):
                        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a file"
                        raise UnsafeArchive(
                            f"unsafe tarball {self.archive}: member {name!r} would be written "
                            f"through {what} ({'/'.join(parts[:i])})"
                        )
                self.dirs.add(parts[:i])
        return os.path.join(self.root, *parent)


class _Member(Record):
    """One member of the stream, as its headers (pax and GNU long names applied) describe it."""

    kind: bytes
    name: str
    size: int
    mode: int
    mtime: int
    raw_link: bytes
    sparse: bool


class _HeaderReader:
    """The header reader: the next member's header, with the pax (``x``, ``g``) and GNU
    long-name (``L``, ``K``) headers before it applied, each bounded and checked."""

    def __init__(self, inp: CompressedInput, max_members: int) -> None:
        self.inp = inp
        self.archive = inp.name
        self.max_members = max_members
        self.members = 0

    def next_member(self) -> _Member | None:
        """The next member (its data not read yet), or None at the end of the archive."""
        inp, archive = self.inp, self.archive
        overrides: dict[str, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        while True:
            block = inp.read_exact(_BLOCK)
            if block is None or block == _ZERO_BLOCK:
                return None  # end of archive (two zero blocks, or a stream that simply ends)
            if not _checksum_ok(block):
                raise UnsafeArchive(f"tarball {archive} has a corrupt header (bad checksum)")
            kind = block[156:157]
            size = _number(block[124:136], "size", archive)
            if kind not in (b"x", b"g", b"L", b"K"):
                break
            data = self._extension(kind, size)
            if kind == b"x":
                overrides.update(_parse_pax(data, archive))
            elif kind == b"g":
                bad = set(_parse_pax(data, archive)) & {"path", "linkpath", "size"}
                if bad:
                    raise UnsafeArchive(
                        f"unsafe tarball {archive}: a global pax header sets {sorted(bad)[0]!r}"
                    )
            elif kind == b"L":
                long_name = data.split(b"\0", 1)[0]
            else:
                long_link = data.split(b"\0", 1)[0]
        self.members += 1
        if self.members > self.max_members:
            raise UnsafeArchive(f"unsafe tarball {archive}: more than {self.max_members} members")
        ustar = block[257:263] == b"ustar\0"
        raw_name = block[:100].split(b"\0", 1)[0]
        if ustar and block[345]:
            raw_name = block[345:500].split(b"\0", 1)[0] + b"/" + raw_name
        raw_name = overrides.get("path", long_name if long_name is not None else raw_name)
        raw_link = overrides.get(
            "linkpath", long_link if long_link is not None else block[157:257].split(b"\0", 1)[0]
        )
        if "size" in overrides:
            if not overrides["size"].isdigit():
                raise UnsafeArchive(f"tarball {archive} has a corrupt pax size")
            size = int(overrides["size"])
        sparse = any(k.startswith("GNU.sparse") for k in overrides)
        mtime = _number(block[136:148], "mtime", archive)
        mode = _number(block[100:108], "mode", archive)
        name = _decode_name(raw_name, "member name", archive)
        if name.endswith("/") and kind in (b"0", b"\0", b"7"):
            kind = b"5"  # an old tar's way of writing a directory
        return _Member(kind, name, size, mode, mtime, raw_link, sparse)

    def _extension(self, kind: bytes, size: int) -> bytes:
        """The data of a pax or long-name header, at most :data:`MAX_HEADER_BYTES`."""
        if size > MAX_HEADER_BYTES:
            raise UnsafeArchive(
                f"unsafe tarball {self.archive}: a {'pax' if kind in b'xg' else 'long-name'} "
                f"header of {size} bytes (at most {MAX_HEADER_BYTES})"
            )
        data = self.inp.read_exact(size) if size else b""
        if data is None or len(data) != size:
            raise UnsafeArchive(f"tarball {self.archive} is truncated inside a header")
        self.inp.skip(-size % _BLOCK)
        return data


def allowed_path(member: _Member, archive: str) -> tuple[str, ...]:
    """The refusal policy: the member's path in the tree, split (empty for the root itself),
    unless the member is one the probe never unpacks (UnsafeArchive naming it): an absolute or
    escaping path, a sparse file, a hard link, device, FIFO or other special member, a setuid,
    setgid or sticky mode."""
    name = member.name
    if name.startswith("/"):
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} is an absolute path")
    name = name.rstrip("/")
    if member.sparse:
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} is a sparse file")
    parts = _relative_parts(name, archive)
    if member.kind not in (b"0", b"\0", b"7", b"5", b"2"):
        what = _KINDS.get(member.kind, f"an unsupported member type ({member.kind!r})")
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} is {what}")
    if member.mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
        raise UnsafeArchive(
            f"unsafe tarball {archive}: member {name!r} has the setuid, setgid or sticky "
            f"bit (mode {member.mode & 0o7777:04o})"
        )
    return parts


class _Writer:
    """The writer: each member into the tree, once, within the bound on unpacked bytes."""

    def __init__(self, inp: CompressedInput, dest: Path, max_bytes: int) -> None:
        self.inp = inp
        self.archive = inp.name
        self.tree = _Tree(dest, inp.name)
        self.max_bytes = max_bytes
        self.total = 0
        self.seen: set[tuple[str, ...]] = set()

    def write(self, member: _Member, parts: tuple[str, ...]) -> None:
        inp, archive, tree, size = self.inp, self.archive, self.tree, member.size
        name = member.name.rstrip("/")
        if not parts:  # the root itself ("." or "./")
            inp.skip(size + (-size % _BLOCK))
            return
        if parts in self.seen and member.kind != b"5":
            raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} appears twice")
        self.seen.add(parts)
        parent = tree.parent(parts, name)
        target = os.path.join(parent, parts[-1])
        try:
            if member.kind == b"5":
                if parts not in tree.dirs:
                    os.mkdir(target, 0o755)
                    os.chmod(target, 0o755)
                    tree.dirs.add(parts)
                inp.skip(size + (-size % _BLOCK))
            elif member.kind == b"2":
                link = _decode_name(member.raw_link, "link target", archive)
                _check_link_target(parts, link, name, archive)
                os.symlink(link, target)
                tree.links.append(Path(target))
                inp.skip(size + (-size % _BLOCK))
            else:
                self.total += size
                if self.total > self.max_bytes:
                    raise UnsafeArchive(
                        f"unsafe tarball {archive}: unpacks to more than {self.max_bytes} bytes"
                    )
                _write_file(inp, target, size, member.mode, member.mtime, name, archive)
                inp.skip(-size % _BLOCK)
        except FileExistsError:
            raise UnsafeArchive(
                f"unsafe tarball {archive}: member {name!r} clashes with another member"
            ) from None


def extract_stream(
    inp: CompressedInput,
    dest: Path,
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = 8 << 30,
) -> tuple[int, int]:
    """Unpack the tar stream of *inp* into the existing empty directory *dest*: the header
    reader, the refusal policy and the writer, member by member.

    Returns ``(unpacked bytes, members)``.  UnsafeArchive names the first offending member;
    *dest* may then hold a partial tree, which the caller throws away.  The whole compressed
    stream is read, so the caller can check its size and hash afterwards.
    """
    headers = _HeaderReader(inp, max_members)
    writer = _Writer(inp, dest, max_bytes)
    while True:
        member = headers.next_member()
        if member is None:
            break
        writer.write(member, allowed_path(member, inp.name))
    # Whatever follows the end of the archive (padding to a record) is read and hashed too.
    while inp.take(_OUT_CHUNK):
        pass
    inp.drain()
    _check_links(writer.tree, dest, inp.name)
    return writer.total, headers.members


def _write_file(
    inp: CompressedInput, target: str, size: int, mode: int, mtime: int, name: str, archive: str
) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o600)
    try:
        remaining = size
        while remaining > 0:
            chunk = inp.take(min(_OUT_CHUNK, remaining))
            if not chunk:
                raise UnsafeArchive(f"tarball {archive} is truncated inside member {name!r}")
            while chunk:
                written = os.write(fd, chunk)
                chunk = chunk[written:]
                remaining -= written
        os.fchmod(fd, 0o755 if mode & 0o111 else 0o644)
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _check_links(tree: _Tree, dest: Path, archive: str) -> None:
    """The lexical check cannot see links through links (a -> ., b -> a/..): ask the file
    system where each one finally leads."""
    real_root = os.path.realpath(dest)
    for link in tree.links:
        resolved = os.path.realpath(link)
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            name = link.relative_to(dest).as_posix()
            raise UnsafeArchive(
                f"unsafe tarball {archive}: symbolic link {name!r} resolves outside the tree"
            )


def extract_file(
    tarball: Path, dest: Path, *, max_members: int = MAX_MEMBERS, max_bytes: int = 8 << 30
) -> int:
    """Unpack the local *tarball* into the empty directory *dest*; the unpacked byte count."""

    def chunks() -> Iterator[bytes]:
        with open(tarball, "rb") as f:
            yield from iter(lambda: f.read(1 << 20), b"")

    inp = CompressedInput(
        chunks(), max_in=1 << 62, max_out=max_bytes + HEADER_ALLOWANCE, name=tarball.name
    )
    return extract_stream(inp, dest, max_members=max_members, max_bytes=max_bytes)[0]
