"""BM25: the analyzer, the packing of an inverted index into buckets, and the scoring.

An index is stored as hashed term buckets (jobs.sources.index keeps them in MongoDB): a bucket holds, for
each of its terms, the postings (passage ordinal, term frequency, passage length) packed as arrays, so a
query reads one bucket per distinct term and scores with numpy. A bucket's number is the CRC-32 of its
term, which every process computes alike (Python's `hash` does not).
"""

from __future__ import annotations

import functools
import json
import math
import re
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

K1, B = 1.2, 0.75
_TOKEN_RE = re.compile(r"[^\W_]+")
_MAGIC = b"BM1"
_STOPWORD_TEXT = """
    a about above after again against all am an and any are aren as at be because been before being below
    between both but by can cannot could couldn did didn do does doesn doing don down during each few for from
    further had hadn has hasn have haven having he her here hers herself him himself his how i if in into is
    isn it its itself just ll me might more most must mustn my myself no nor not now of off on once only or
    other ought our ours ourselves out over own re s same shall shan she should shouldn so some such t than
    that the their theirs them themselves then there these they this those through to too under until up ve
    very was wasn we were weren what when where which while who whom why will with won would wouldn you your
    yours yourself yourselves also may many much one two three per via
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

Postings = tuple["NDArray[np.uint32]", "NDArray[np.uint16]", "NDArray[np.uint16]"]


@functools.cache
def _stemmer() -> object:
    from nltk.stem.snowball import SnowballStemmer  # noqa: PLC0415 - nltk is heavy; only workers analyse

    return SnowballStemmer("english")


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return str(_stemmer().stem(word))  # type: ignore[attr-defined]


def terms(text: str) -> list[str]:
    """The text's index terms, in order: lower-cased words of 2-40 characters, stop words out, stemmed."""
    out = []
    for token in _TOKEN_RE.findall(text.lower()):
        if 2 <= len(token) <= 40 and token not in STOPWORDS:
            out.append(stem(token))
    return out


def term_counts(text: str) -> dict[str, int]:
    return dict(Counter(terms(text)))


def bucket_of(term: str, buckets: int) -> int:
    return zlib.crc32(term.encode()) % buckets


def bucket_count(vocabulary: int) -> int:
    """About 32 terms per bucket, between 64 and 1,024 buckets: few documents per query, small documents."""
    return max(64, min(1024, vocabulary // 32 or 1))


def build(docs: Iterable[tuple[int, Mapping[str, int]]], buckets: int) -> dict[int, bytes]:
    """Packed buckets of the postings of `docs`: (ordinal, term counts) each."""
    by_term: dict[str, list[tuple[int, int, int]]] = {}
    for ordinal, counts in docs:
        length = min(65535, sum(counts.values()))
        for term, tf in counts.items():
            by_term.setdefault(term, []).append((ordinal, min(65535, tf), length))
    grouped: dict[int, dict[str, list[tuple[int, int, int]]]] = {}
    for term, entries in by_term.items():
        grouped.setdefault(bucket_of(term, buckets), {})[term] = entries
    return {number: pack(entries) for number, entries in grouped.items()}


def pack(entries: Mapping[str, Sequence[tuple[int, int, int]]]) -> bytes:
    header = json.dumps([[term, len(rows)] for term, rows in entries.items()]).encode()
    parts = [_MAGIC, struct.pack("<I", len(header)), header]
    for rows in entries.values():
        ords, tfs, dls = zip(*rows, strict=True)
        parts += [
            np.asarray(ords, dtype="<u4").tobytes(),
            np.asarray(tfs, dtype="<u2").tobytes(),
            np.asarray(dls, dtype="<u2").tobytes(),
        ]
    return b"".join(parts)


def unpack(blob: bytes, wanted: Iterable[str]) -> dict[str, Postings]:
    """The postings of the `wanted` terms that the bucket holds."""
    if blob[:3] != _MAGIC:
        raise ValueError("not a packed BM25 bucket")
    want = set(wanted)
    (size,) = struct.unpack_from("<I", blob, 3)
    offset = 7 + size
    out: dict[str, Postings] = {}
    for term, count in json.loads(blob[7 : 7 + size]):
        span = count * 8
        if term in want:
            ords = np.frombuffer(blob, dtype="<u4", count=count, offset=offset)
            tfs = np.frombuffer(blob, dtype="<u2", count=count, offset=offset + 4 * count)
            dls = np.frombuffer(blob, dtype="<u2", count=count, offset=offset + 6 * count)
            out[term] = (ords, tfs, dls)
        offset += span
    return out


def score(
    postings: Mapping[str, Postings], *, documents: int, average_length: float, top: int
) -> list[tuple[int, float]]:
    """The `top` (ordinal, score) by BM25 over the terms' postings, best first."""
    if not postings or documents <= 0:
        return []
    ords_parts, score_parts = [], []
    average = max(average_length, 1.0)
    for ords, tfs, dls in postings.values():
        df = len(ords)
        idf = math.log(1.0 + (documents - df + 0.5) / (df + 0.5))
        tf = tfs.astype(np.float32)
        norm = K1 * (1.0 - B + B * dls.astype(np.float32) / average)
        ords_parts.append(ords)
        score_parts.append(idf * tf * (K1 + 1.0) / (tf + norm))
    all_ords = np.concatenate(ords_parts)
    unique, inverse = np.unique(all_ords, return_inverse=True)
    totals = np.bincount(inverse, weights=np.concatenate(score_parts))
    best = np.argsort(-totals, kind="stable")[:top]
    return [(int(unique[i]), float(totals[i])) for i in best if totals[i] > 0]


def rank(query: str, texts: Sequence[str], top: int) -> list[tuple[int, float]]:
    """BM25 over a few texts held in memory (a fetched page's passages): (index, score), best first."""
    docs = [term_counts(text) for text in texts]
    wanted = set(terms(query))
    packed = build(((i, counts) for i, counts in enumerate(docs)), 1)
    postings = unpack(packed[0], wanted) if packed else {}
    average = sum(sum(c.values()) for c in docs) / max(1, len(docs))
    return score(postings, documents=len(docs), average_length=average, top=top)
