"""Helpers for retrieval tests: tiny real files of every supported type."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, text: str | None) -> Path:
    """Write a one-page PDF; with ``text`` it has a real text layer (Helvetica), without it the page is blank."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode() if text else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def make_corpus(folder: Path) -> Path:
    """Good files of every type plus the bad ones of the issue: empty, binary .txt, image-only PDF, non-UTF-8."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "guide.md").write_text("# Install guide\n\nRun pip install augment.\n\n## Usage\n\n"
                                     "Call ingest on a folder to index it.\n")
    (folder / "plain.txt").write_text("Chroma is an open-source vector database for embeddings.")
    (folder / "sub" / "page.html").write_text(
        "<html><head><title>Whales</title><style>p{}</style><script>var x = 'hidden';</script></head>"
        "<body><h1>Blue whale</h1><p>The blue whale is the largest animal known.</p></body></html>")
    (folder / "records.jsonl").write_text('{"_id": "d1", "title": "Mars", "text": "Mars is the red planet."}\n'
                                          '{"_id": "d2", "title": "Venus", "text": "Venus is very hot."}\n')
    make_pdf(folder / "paper.pdf", "Photosynthesis turns light into chemical energy.")
    (folder / "latin1.txt").write_bytes("Crème brûlée, café et déjà vu à Noël.".encode("latin-1"))
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 8)
    make_pdf(folder / "scan.pdf", None)
    return folder
