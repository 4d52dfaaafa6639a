"""What a story is recognised by: each article's signature, computed once at ingest.

- its meaning: the mean of its first STORY_PASSAGES passage vectors (the vectors the ingest has
  just embedded: the title and lead say which event it reports), unit length, for each model of
  the embedder (the main one compares articles in one language, the multilingual one across);
- its names: the words of its title and lead rarest in its language (wordfreq), each weighed by
  its rarity: two reports of one event name the same places, people and figures;
- its wording: a MinHash (datasketch) of its word 3-grams, whose agreement estimates the Jaccard
  overlap of two texts (a wire text reposted by another outlet shares most of its 3-grams);
- its date, and whether the article gave one (an undated article is dated when it was fetched,
  which says nothing about the event).

Signatures are stored in the catalog beside the article's row (vectors as float16), so a new
article is compared with the recent ones without reading the vector store."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from datasketch import MinHash
from wordfreq import zipf_frequency

from kb.language import STOPWORDS
from kb.question import fold

#: Passages whose vectors make an article's meaning (title line and lead first).
STORY_PASSAGES = 3
#: MinHash permutations: the Jaccard estimate's standard error is about 1/sqrt(64) = 0.125 at
#: J=0.5, and near 0 at J=1 (copies) and J=0 (different texts).
NUM_PERM = 64
#: Words a shingle.
SHINGLE = 3
#: A text with fewer words holds too little to be matched (a placeholder, a teaser).
MIN_WORDS = 100
#: The rare words kept, read from the title and this many characters of the text.
NAMES = 40
LEAD_CHARS = 3000
#: A word this common in its language (Zipf scale) or more is no name; rarer ones weigh
#: RAREST - zipf.
RAREST = 7.0
_SEED = 20260701

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Signature:
    """An article's meaning (unit vectors: the main model's and, with one, the multilingual
    model's, else empty), names (rare word -> weight), wording (MinHash values), language and
    date (dated: the article gave it)."""

    vector: np.ndarray
    multilingual: np.ndarray
    names: dict[str, float]
    minhash: np.ndarray
    language: str
    published: datetime | None
    dated: bool = True

    def to_row(self) -> tuple[bytes, bytes, bytes, str, str, int]:
        """The values of the catalog's SIGNATURE_COLUMNS (vectors as float16)."""
        return (
            np.asarray(self.vector, dtype=np.float16).tobytes(),
            np.asarray(self.multilingual, dtype=np.float16).tobytes(),
            np.asarray(self.minhash, dtype=np.uint32).tobytes(),
            self.names_text(),
            self.language,
            int(self.dated),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any], published: datetime | None = None) -> Signature:
        """A signature from the values of SIGNATURE_COLUMNS."""
        vector, multilingual, minhash, names, language, dated = row
        return cls(
            vector=np.frombuffer(bytes(vector), dtype=np.float16).astype(np.float32),
            multilingual=np.frombuffer(bytes(multilingual), dtype=np.float16).astype(np.float32),
            names=cls.names_from(str(names or "")),
            minhash=np.frombuffer(bytes(minhash), dtype=np.uint32),
            language=str(language or ""),
            published=published,
            dated=bool(dated),
        )

    @property
    def matchable(self) -> bool:
        """Whether it holds enough text to be matched at all."""
        return bool(self.minhash.size)

    def names_text(self) -> str:
        """The names as stored: 'word:weight' separated by spaces."""
        return " ".join(f"{w}:{v:.2f}" for w, v in self.names.items())

    @staticmethod
    def names_from(text: str) -> dict[str, float]:
        """Stored names back."""
        names = {}
        for item in text.split():
            word, _, weight = item.rpartition(":")
            try:
                names[word] = float(weight)
            except ValueError:
                continue
        return names


def signature(
    vectors: np.ndarray,
    text: str,
    published: datetime | None,
    *,
    language: str = "",
    title: str = "",
    dated: bool = True,
    split: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]] | None = None,
) -> Signature:
    """An article's signature from its passages' vectors (in order), its text and title; split
    cuts a joint vector into its models' parts (kb.search.vector_parts)."""
    lead = np.asarray(vectors[:STORY_PASSAGES], dtype=np.float32)
    mean = lead.mean(axis=0) if len(lead) else np.zeros(1, dtype=np.float32)
    main, multilingual = split(mean) if split else (mean, None)
    enough = len(_WORD.findall(text)) >= MIN_WORDS
    return Signature(
        vector=_unit(main),
        multilingual=_unit(multilingual) if multilingual is not None else np.zeros(0, np.float32),
        names=names_of(f"{title}\n{text[:LEAD_CHARS]}", language) if enough else {},
        minhash=minhash_of(text) if enough else np.zeros(0, dtype=np.uint32),
        language=language,
        published=published,
        dated=dated,
    )


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def names_of(text: str, language: str) -> dict[str, float]:
    """The NAMES words of text rarest in its language, folded, each weighed by its rarity."""
    weights: dict[str, float] = {}
    for word in _WORD.findall(text):
        folded = fold(word)
        if len(folded) < 3 or folded in STOPWORDS:
            continue
        weight = RAREST - _zipf(word.lower(), language)
        if weight > 0 and weight > weights.get(folded, 0.0):
            weights[folded] = weight
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:NAMES]
    return {word: round(weight, 2) for word, weight in ranked}


@lru_cache(maxsize=200_000)
def _zipf(word: str, language: str) -> float:
    """How common a word is in its language (English unless es), as written."""
    return float(zipf_frequency(word, "es" if language == "es" else "en"))


def shared_names(a: dict[str, float], b: dict[str, float]) -> float:
    """The weighted Jaccard overlap of two articles' names (0 when either has none)."""
    common = a.keys() & b.keys()
    if not common:
        return 0.0
    both = sum(min(a[w], b[w]) for w in common)
    either = sum(a.values()) + sum(b.values()) - both
    return both / either if either else 0.0


def minhash_of(text: str) -> np.ndarray:
    """The MinHash values of a text's word 3-grams (folded: case and accents ignored)."""
    words = [fold(w) for w in _WORD.findall(text)]
    shingles = [" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)]
    sketch = MinHash(num_perm=NUM_PERM, seed=_SEED, permutations=_permutations(), scheme="affine32")
    if shingles:
        sketch.update_batch(shingles)
    return np.asarray(sketch.hashvalues, dtype=np.uint32)


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    made = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme="affine32").permutations
    return (made[0], made[1])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The estimated Jaccard overlap of two texts' 3-grams (the share of equal MinHash
    values); 0 for an empty text."""
    if a.shape != b.shape or not a.size:
        return 0.0  # too short a text to compare
    return float(np.mean(a == b))
