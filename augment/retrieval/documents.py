"""Documents: loaders for files and folders, and splitters into chunks.

Loaders read .txt, .md, .html, .pdf and .jsonl files (regular files only: a FIFO,
socket or device is refused, never opened) into
:class:`~augment.types.Document` objects that keep ``source`` (absolute path),
``title``, ``file_type`` and a position (``page`` for PDF, ``line`` for
jsonl). Bad files raise :class:`~augment.errors.DocumentLoadError` saying why
(:class:`~augment.errors.NoTextError` when there is no text: empty, binary, not decodable).

Text encodings, in order: a BOM (UTF-8, UTF-16), then UTF-8, then one stated
fallback, Windows-1252 (:data:`FALLBACK_ENCODING`, a superset of Latin-1), accepted
only when it yields no control characters; the encoding used is kept in the
``encoding`` metadata (ingestion reports the files read with the fallback).
Anything else is refused rather than guessed. Sizes are in MiB.
Splitters cut by structure (headings, paragraphs, lines, sentences, words);
:class:`TokenSplitter` measures chunks in the embedder's own tokens. Chunk ids
are content hashes, so re-splitting an unchanged file yields the same ids.

>>> from augment.types import Document
>>> chunks = split_documents([Document("# A\\n\\nOne. Two.\\n\\n# B\\n\\nThree.", {"source": "x.md"})],
...                          RecursiveSplitter(chunk_size=16, chunk_overlap=0))
>>> [c.text for c in chunks]
['# A\\n\\nOne. Two.', '# B\\n\\nThree.']
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from augment.errors import ConfigError, DocumentLoadError, NoTextError
from augment.types import Document

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DEFAULT_IGNORE",
    "DEFAULT_MAX_BYTES",
    "load_file",
    "load_path",
    "iter_files",
    "scan_files",
    "FALLBACK_ENCODING",
    "read_text",
    "read_file_bytes",
    "check_supported",
    "RecursiveSplitter",
    "TokenSplitter",
    "split_documents",
]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".jsonl")
DEFAULT_IGNORE = (".*", "__pycache__", "node_modules", "*.pyc")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: the one encoding tried after UTF-8 (Windows-1252: Latin-1 plus typographic quotes, the commonest non-UTF-8 text)
FALLBACK_ENCODING = "cp1252"
_MIB = 1024 * 1024
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


# -- reading files -------------------------------------------------------------
def _mib(n: float) -> str:
    """A size in MiB, as every size message of augment writes it."""
    return f"{n / _MIB:.1f} MiB"


def _kind(mode: int) -> str | None:
    """What a non-regular file is (None for a regular file)."""
    for test, name in ((stat.S_ISREG, None), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        st = os.stat(path)  # follows a symlink; never opens the file, so a FIFO cannot block
        kind = _kind(st.st_mode)
        if kind == "a folder":
            raise DocumentLoadError(f"{path}: is a folder; pass it as a folder path to load_path().")
        if kind is not None:
            raise DocumentLoadError(f"{path}: is {kind}, not a regular file; only regular files are read.")
        if st.st_size > max_bytes:
            raise DocumentLoadError(f"{path}: {_mib(st.st_size)} is over the {_mib(max_bytes)} limit; "
                                    "split the file or raise the limit (max_bytes= / --max-mb, in MiB).")
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise DocumentLoadError(f"{path}: the file disappeared before it could be read; run again once it "
                                "is back.") from e
    except PermissionError as e:
        raise DocumentLoadError(f"{path}: permission denied; make it readable.") from e
    except OSError as e:  # a symlink loop, an I/O error
        raise DocumentLoadError(f"{path}: cannot be read ({e.strerror or e}).") from e
    if not data.strip():
        raise NoTextError(f"{path}: the file is empty; there is nothing to index.")
    return data


def read_text(path: str | Path, data: bytes | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Decode a text file -> (text, encoding): a BOM, else UTF-8, else :data:`FALLBACK_ENCODING` when it
    gives clean text; anything else (binary data, another encoding) raises :class:`NoTextError`.

    >>> read_text("x.txt", data="Café".encode("utf-8"))
    ('Café', 'utf-8')
    >>> read_text("x.txt", data="Café".encode("latin-1"))
    ('Café', 'cp1252')
    """
    path = Path(path)
    data = _read_bytes(path, max_bytes) if data is None else data
    head = data[:8192]
    if b"\x00" in head and not (head.startswith((b"\xff\xfe", b"\xfe\xff"))):
        raise NoTextError(f"{path}: looks like a binary file (it contains NUL bytes), not text; "
                          "remove it or exclude it with --ignore.")
    for enc in ("utf-8-sig", "utf-16") if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) else ("utf-8",):
        try:
            return data.decode(enc), enc.replace("-sig", "")
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode(FALLBACK_ENCODING)
    except UnicodeDecodeError:
        text = None
    if text is not None and not any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text):
        return text, FALLBACK_ENCODING
    raise NoTextError(f"{path}: not UTF-8, and not clean Windows-1252 text either; convert it to UTF-8 "
                      "(e.g. iconv -f SHIFT_JIS -t UTF-8) or exclude it.")


def _title_from_md(text: str, default: str) -> str:
    m = _HEADING.search(text)
    return m.group(2).strip() if m else default


def _load_html(path: Path, raw: bytes, meta: dict[str, Any]) -> list[Document]:
    try:
        from bs4 import BeautifulSoup
    except ImportError as e:  # pragma: no cover - a core dependency
        from augment.errors import MissingDependencyError
        raise MissingDependencyError("beautifulsoup4", purpose="reading HTML files") from e
    text, enc = read_text(path, raw)
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    h1 = soup.find("h1")
    body = soup.get_text("\n")
    body = re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t\r\f\v]+", " ", body)).strip()
    if not body:
        raise NoTextError(f"{path}: the HTML page has no visible text.")
    meta.update(title=title or (h1.get_text(strip=True) if h1 else path.stem), encoding=enc)
    return [Document(body, meta)]


def _load_pdf(path: Path, raw: bytes, meta: dict[str, Any]) -> list[Document]:
    import io

    try:
        from pypdf import PdfReader
    except ImportError as e:  # pragma: no cover - a core dependency
        from augment.errors import MissingDependencyError
        raise MissingDependencyError("pypdf", purpose="reading PDF files") from e
    try:
        reader = PdfReader(io.BytesIO(raw))
        info_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
        pages = [(i + 1, (page.extract_text() or "").strip()) for i, page in enumerate(reader.pages)]
    except Exception as e:
        raise DocumentLoadError(f"{path}: not a readable PDF ({type(e).__name__}: {e}).") from e
    docs = [Document(t, {**meta, "page": n, "title": str(info_title or path.stem)}) for n, t in pages if t]
    if not docs:
        raise NoTextError(f"{path}: the PDF has no text layer ({len(pages)} page(s) of images?); "
                          "run OCR on it first (e.g. ocrmypdf) and ingest the result.")
    return docs


def _load_jsonl(path: Path, raw: bytes, meta: dict[str, Any]) -> list[Document]:
    text, _ = read_text(path, raw)
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DocumentLoadError(f"{path}:{n}: not valid JSON ({e.msg}); each line must be one object.") from e
        if not isinstance(row, dict):
            raise DocumentLoadError(f"{path}:{n}: each line must be a JSON object with a 'text' field.")
        body = next((row[k] for k in ("text", "content", "page_content") if isinstance(row.get(k), str)), None)
        if body is None:
            raise DocumentLoadError(f"{path}:{n}: no 'text' (or 'content') string field in this line.")
        title = row.get("title") if isinstance(row.get("title"), str) else ""
        extra = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        row_id = row.get("_id", row.get("id"))
        full = f"{title} {body}".strip() if title and row.get("_id") is not None else body  # BEIR: title + " " + text
        if not full.strip():
            continue
        doc_meta = {**meta, **extra, "line": n, "title": title or meta["title"]}
        if row_id is not None:
            doc_meta["record_id"] = str(row_id)
        docs.append(Document(full, doc_meta))
    if not docs:
        raise NoTextError(f"{path}: no non-empty records in this jsonl file.")
    return docs


def check_supported(path: Path) -> str:
    """The lower-cased suffix of ``path``; an unsupported type raises :class:`DocumentLoadError`."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentLoadError(f"{path}: unsupported file type {suffix or '(none)'!r}; supported: "
                                f"{', '.join(SUPPORTED_SUFFIXES)}.")
    return suffix


def read_file_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a file; missing, empty or over-``max_bytes`` files raise :class:`DocumentLoadError`."""
    return _read_bytes(Path(path), max_bytes)


def load_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, data: bytes | None = None) -> list[Document]:
    """Load one file into documents (one per file; one per page for PDF; one per line for jsonl).

    ``data``: the file's bytes when the caller already read them.
    """
    path = Path(path).expanduser().absolute()
    suffix = check_supported(path)
    raw = _read_bytes(path, max_bytes) if data is None else data
    meta: dict[str, Any] = {"source": str(path), "filename": path.name, "file_type": suffix.lstrip("."),
                            "title": path.stem}
    if suffix in (".html", ".htm"):
        return _load_html(path, raw, meta)
    if suffix == ".pdf":
        return _load_pdf(path, raw, meta)
    if suffix == ".jsonl":
        return _load_jsonl(path, raw, meta)
    text, enc = read_text(path, raw)
    if not text.strip():
        raise NoTextError(f"{path}: the file has only whitespace; there is nothing to index.")
    meta["encoding"] = enc
    if suffix in (".md", ".markdown"):
        meta["title"] = _title_from_md(text, path.stem)
    return [Document(text, meta)]


def _ignored(rel: Path, patterns: Sequence[str]) -> bool:
    rel_s = rel.as_posix()
    return any(fnmatch.fnmatch(rel_s, p) or any(fnmatch.fnmatch(part, p) for part in rel.parts) for p in patterns)


def _skip_reason(f: Path) -> str | None:
    """Why a path found in a folder is not read (None: a regular file, or a symlink to one)."""
    try:
        st = os.stat(f)
    except FileNotFoundError:
        return f"dangling symlink (its target {os.readlink(f)!r} does not exist)" if f.is_symlink() else None
    except OSError as e:
        return "symlink loop" if f.is_symlink() else f"cannot be read ({e.strerror or e})"
    kind = _kind(st.st_mode)
    return None if kind is None or kind == "a folder" else f"{kind}, not a regular file"


def scan_files(paths: str | Path | Iterable[str | Path], glob: str | Sequence[str] | None = None,
               ignore: Sequence[str] = DEFAULT_IGNORE) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into ``(files, skipped)``: the sorted regular files to read, and
    ``(path, reason)`` for what a folder holds that cannot be read (dangling or looping symlinks,
    FIFOs, sockets, devices). A symlink to a regular file is read.

    Folders are searched with ``glob`` (default: every supported suffix, recursively);
    ``ignore`` patterns (fnmatch) match a relative path or any part of it. A path
    that does not exist raises :class:`DocumentLoadError`; a path given by name that is
    not a regular file is returned and refused when read.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    globs = [glob] if isinstance(glob, str) else list(glob or [f"**/*{s}" for s in SUPPORTED_SUFFIXES])
    out: dict[Path, None] = {}
    skipped: dict[str, str] = {}
    for p in paths:
        p = Path(p).expanduser().absolute()
        if p.is_dir():
            for g in globs:
                for f in sorted(p.glob(g)):
                    if _ignored(f.relative_to(p), ignore):
                        continue
                    reason = _skip_reason(f)
                    if reason is not None:
                        skipped[str(f)] = reason
                    elif f.is_file():
                        out[f] = None
        elif os.path.lexists(p):
            out[p] = None
        else:
            raise DocumentLoadError(f"{p}: no such file or folder.")
    return sorted(out), sorted(skipped.items())


def iter_files(paths: str | Path | Iterable[str | Path], glob: str | Sequence[str] | None = None,
               ignore: Sequence[str] = DEFAULT_IGNORE) -> list[Path]:
    """The files :func:`scan_files` finds (what it skips is left out; see ``scan_files`` for the reasons)."""
    return scan_files(paths, glob, ignore)[0]


def load_path(paths: str | Path | Iterable[str | Path], glob: str | Sequence[str] | None = None,
              ignore: Sequence[str] = DEFAULT_IGNORE, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Document]:
    """Load files and folders (see :func:`iter_files`); a bad file raises :class:`DocumentLoadError`."""
    return [d for f in iter_files(paths, glob, ignore) for d in load_file(f, max_bytes)]


# -- splitting -----------------------------------------------------------------
_SEPARATORS = (r"\n(?=#{1,6}\s)", r"\n\s*\n", r"\n", r"(?<=[.!?])\s+", r"\s+", r"")


class RecursiveSplitter:
    """Split text by structure: headings, then paragraphs, lines, sentences, words, characters.

    Pieces are merged back up to ``chunk_size`` (measured by ``length``, default
    characters) with about ``chunk_overlap`` of overlap between neighbours.

    >>> RecursiveSplitter(chunk_size=10, chunk_overlap=0).split("Hi there. How are you?")
    ['Hi there.', 'How are', 'you?']
    """

    def __init__(self, chunk_size: int = 1000, chunk_overlap: int = 100,
                 length: Callable[[str], int] = len, separators: Sequence[str] = _SEPARATORS):
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        if not 0 <= chunk_overlap < chunk_size:
            raise ConfigError(f"chunk_overlap must be in [0, chunk_size), got {chunk_overlap}")
        self.chunk_size, self.chunk_overlap, self.length = chunk_size, chunk_overlap, length
        self.separators = list(separators)

    def split(self, text: str) -> list[str]:
        """Chunks of ``text`` (stripped, non-empty)."""
        chunks = [c for c in (p.strip() for p in self._split(text, self.separators)) if c]
        out: list[str] = []
        for chunk in chunks:  # a lone heading joins the chunk after it when that fits
            if out and _HEADING.fullmatch(out[-1]) and self.length(out[-1] + "\n\n" + chunk) <= self.chunk_size:
                chunk = out.pop() + "\n\n" + chunk
            out.append(chunk)
        return out

    def _split(self, text: str, seps: list[str]) -> list[str]:
        if self._len(text) <= self.chunk_size:
            return [text]
        sep, rest = seps[0], seps[1:]
        if sep == "":
            return self._by_chars(text)
        pieces = [p for p in re.split(f"({sep})", text)]
        # re-attach each separator to the piece that follows it, keeping the text intact
        parts = [pieces[0]] + [pieces[i] + pieces[i + 1] for i in range(1, len(pieces) - 1, 2)]
        parts = [p for p in parts if p.strip()]
        if len(parts) <= 1:
            return self._split(text, rest)
        good: list[str] = []
        out: list[str] = []
        for part in parts:
            if self._len(part) <= self.chunk_size:
                good.append(part)
            else:
                if good and _HEADING.fullmatch(good[-1].strip()):
                    part = good.pop() + part  # keep a heading with the text it introduces
                out.extend(self._merge(good))
                good = []
                out.extend(self._split(part, rest))
        out.extend(self._merge(good))
        return out

    def _len(self, text: str) -> int:
        return self.length(text.strip())

    def _by_chars(self, text: str) -> list[str]:
        out, start = [], 0
        while start < len(text):
            lo, hi = start + 1, len(text)
            while lo < hi:  # the longest prefix that fits
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self.length(text[start:mid]) <= self.chunk_size else (lo, mid - 1)
            out.append(text[start:lo])
            start = lo
        return out

    def _merge(self, parts: list[str]) -> list[str]:
        chunks: list[str] = []
        current: list[str] = []
        for part in parts:
            if current and self._len("".join(current + [part])) > self.chunk_size:
                chunks.append("".join(current))
                while current and (self._len("".join(current)) > self.chunk_overlap or
                                   self._len("".join(current + [part])) > self.chunk_size):
                    current.pop(0)
            current.append(part)
        if current:
            chunks.append("".join(current))
        return chunks


class TokenSplitter(RecursiveSplitter):
    """A :class:`RecursiveSplitter` whose sizes are counted in the embedder's tokens.

    ``embedder`` is anything with ``count_tokens(text)`` (an augment embedder or LLM).
    The default 200 tokens fits all-MiniLM-L6-v2's 256-token window.

    >>> from augment.retrieval.embeddings import FakeEmbedder
    >>> TokenSplitter(FakeEmbedder(), chunk_size=3, chunk_overlap=0).split("one two three four")
    ['one two three', 'four']
    """

    def __init__(self, embedder: Any, chunk_size: int = 200, chunk_overlap: int = 20):
        if not hasattr(embedder, "count_tokens"):
            raise ConfigError("TokenSplitter needs an object with count_tokens(text), such as an Embedder.")
        super().__init__(chunk_size, chunk_overlap, length=embedder.count_tokens)


def split_documents(docs: Iterable[Document], splitter: RecursiveSplitter | None = None) -> list[Document]:
    """Split documents into chunks with ``chunk``, ``start_char`` (and ``section`` for markdown) metadata.

    Each chunk's id is a hash of (source, text, occurrence), so it is stable across runs.
    """
    from augment.retrieval.store import doc_id

    splitter = splitter or RecursiveSplitter()
    out: list[Document] = []
    seen: dict[tuple[str, str], int] = {}
    counters: dict[str, int] = {}
    for doc in docs:
        source = str(doc.metadata.get("source", ""))
        headings = [(m.start(), m.group(2)) for m in _HEADING.finditer(doc.text)] \
            if doc.metadata.get("file_type") in ("md", "markdown") else []
        cursor = 0
        for text in splitter.split(doc.text):
            start = doc.text.find(text[:50], cursor)
            start = start if start >= 0 else cursor
            cursor = start + 1
            meta = dict(doc.metadata)
            n = counters.get(source, 0)
            counters[source] = n + 1
            meta.update(chunk=n, start_char=start)
            section = [h for pos, h in headings if pos <= start]
            if section:
                meta["section"] = section[-1]
            key = (source, text)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            out.append(Document(text, meta, doc_id(text, source, occurrence)))
    return out
