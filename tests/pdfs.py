"""PDFs made on the spot for tests and benchmarks: text pages, a compression bomb, a password-locked file."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, StreamObject


def _font(writer: PdfWriter) -> DictionaryObject:
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    return DictionaryObject({NameObject("/F1"): writer._add_object(font)})


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(pages: Sequence[Sequence[str]], *, password: str | None = None) -> bytes:
    """One page per entry, each line of it drawn as text (Helvetica, 10 pt)."""
    writer = PdfWriter()
    fonts = _font(writer)
    for lines in pages:
        page = writer.add_blank_page(595, 842)
        ops = [f"BT /F1 10 Tf 40 {800 - 16 * i} Td ({_escape(line)}) Tj ET" for i, line in enumerate(lines)]
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1", errors="replace"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    if password:
        writer.encrypt(password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bomb_pdf(inflated_bytes: int = 300_000_000) -> bytes:
    """One page whose content stream inflates from a few hundred KB to `inflated_bytes`."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    stream = StreamObject()
    stream._data = zlib.compress(b"0" * inflated_bytes, 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): _font(writer)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
