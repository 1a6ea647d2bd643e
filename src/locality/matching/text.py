"""Text relevance: Okapi BM25 over suppliers' past titles and descriptions, with numpy.

BM25 (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond",
2009) with the usual k1 = 1.2, b = 0.75 and the non-negative idf
``log(1 + (N - df + 0.5) / (df + 0.5))`` (Lucene's). The index is a term-major sparse
matrix held as three arrays (``indptr``, ``docs``, ``weights``: each posting's whole BM25
term weight, idf included), so a query is one ``np.bincount`` over its terms' postings:
ranking 100k suppliers takes milliseconds (``bench/matching.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[a-z0-9]+")
# Common English words and the words every notice uses, which say nothing of the work.
STOPWORDS = frozenset(
    """a about above after all also an and any are as at be been being both but by can could
    do does for from had has have he her his how i if in into is it its may more most must no
    nor not of on one only or other our out over per shall she should so some such than that
    the their them then there these they this those through to under until up upon us very
    was we were what when where which while who will with within would you your
    contract contracts service services provision supply tender tenders lot lots council
    requirement requirements including include provide providing framework agreement
    notice award awarded procurement ltd limited uk""".split()  # noqa: SIM905
)


def stem(word: str) -> str:
    """A light suffix stripper (plurals, -ing, -ed), enough to join "repairs" and "repair"."""
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(text: str | None) -> list[str]:
    """Lower-cased words of two or more characters, stopwords out, lightly stemmed."""
    if not text:
        return []
    return [
        stem(w)
        for w in _WORD.findall(text.lower())
        if len(w) > 1 and w not in STOPWORDS and not w.isdigit()
    ]


class BM25:
    """A BM25 index over documents: built from token lists (``BM25(documents)``) or, faster,
    from each document's term ids in a shared vocabulary (``BM25.from_term_ids``)."""

    def __init__(self, documents: Sequence[Iterable[str]], k1: float = 1.2, b: float = 0.75):
        vocabulary: dict[str, int] = {}
        ids = [
            np.asarray([vocabulary.setdefault(t, len(vocabulary)) for t in d], dtype=np.int64)
            for d in documents
        ]
        self._build(ids, vocabulary, k1, b)

    @classmethod
    def from_term_ids(
        cls,
        documents: Sequence[npt.NDArray[np.int64]],
        vocabulary: dict[str, int],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> BM25:
        """Documents as arrays of term ids (repeats count) in ``vocabulary``."""
        index = cls.__new__(cls)
        index._build(documents, vocabulary, k1, b)
        return index

    def _build(
        self,
        documents: Sequence[npt.NDArray[np.int64]],
        vocabulary: dict[str, int],
        k1: float,
        b: float,
    ) -> None:
        self.k1, self.b = k1, b
        self.vocabulary = vocabulary
        self.size = len(documents)
        width = max(len(vocabulary), 1)
        lengths = np.array([len(d) for d in documents], dtype=np.float64)
        if self.size and lengths.sum():
            owner = np.repeat(np.arange(self.size, dtype=np.int64), lengths.astype(np.int64))
            terms_flat = np.concatenate([np.asarray(d, dtype=np.int64) for d in documents])
            # One key per (term, document): sorting it groups postings term by term.
            keys, counts = np.unique(terms_flat * self.size + owner, return_counts=True)
        else:
            keys = np.zeros(0, dtype=np.int64)
            counts = np.zeros(0, dtype=np.int64)
        terms = keys // max(self.size, 1)
        self.docs: npt.NDArray[np.int64] = keys % max(self.size, 1)
        term_freq = counts.astype(np.float64)
        self.indptr = np.searchsorted(terms, np.arange(width + 1))
        df = np.diff(self.indptr).astype(np.float64)
        self.idf = np.log1p((self.size - df + 0.5) / (df + 0.5))
        average = float(lengths.mean()) if self.size and lengths.sum() else 1.0
        norm = k1 * (1 - b + b * lengths[self.docs] / average)
        self.weights: npt.NDArray[np.float64] = (
            np.repeat(self.idf, np.diff(self.indptr)) * term_freq * (k1 + 1) / (term_freq + norm)
        )

    def scores(self, query: Iterable[str]) -> npt.NDArray[np.float64]:
        """BM25 score of every document for the query (each distinct term counted once)."""
        ids = sorted({self.vocabulary[t] for t in query if t in self.vocabulary})
        if not ids or self.size == 0:
            return np.zeros(self.size, dtype=np.float64)
        slices = [slice(self.indptr[i], self.indptr[i + 1]) for i in ids]
        docs = np.concatenate([self.docs[s] for s in slices])
        weights = np.concatenate([self.weights[s] for s in slices])
        return np.bincount(docs, weights=weights, minlength=self.size).astype(np.float64)

    def brute_force_scores(
        self, documents: Sequence[Sequence[str]], query: Iterable[str]
    ) -> list[float]:
        """The same scores computed document by document from the definition (for tests and
        the benchmark's comparison)."""
        terms = set(query)
        lengths = [len(d) for d in documents]
        average = (sum(lengths) / len(lengths)) if lengths and sum(lengths) else 1.0
        df = Counter(t for d in documents for t in set(d) if t in terms)
        out = []
        for document, length in zip(documents, lengths, strict=True):
            counts = Counter(document)
            total = 0.0
            for t in terms:
                tf = counts.get(t, 0)
                if not tf:
                    continue
                idf = np.log1p((self.size - df[t] + 0.5) / (df[t] + 0.5))
                total += (
                    idf
                    * tf
                    * (self.k1 + 1)
                    / (tf + self.k1 * (1 - self.b + self.b * length / average))
                )
            out.append(float(total))
        return out
