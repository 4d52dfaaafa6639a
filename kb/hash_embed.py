"""A deterministic embedder without a model: hashed word and character n-gram features.

Selected by name like a real model (KB_BACKEND=hash, --backend hash on the command line), so
the page and the command lines can run on it in tests: nothing to load, the same vectors in
every process and on every machine. It is never the default. Its vectors only see shared
words, neighbouring word pairs and word pieces (character 3-grams, so "tariff" is near
"tariffs"), after folding case and accents; not meaning, not paraphrase, not another language.
Answer quality on it says nothing about the real models'.

Each feature is hashed with blake2b (never Python's hash(): it is salted per process) to one of
`dimension` slots and a sign, so colliding features cancel out on average instead of piling up;
a text's vector is the weighted sum, L2-normalised. An index built on it records the name
"hash-384" (kb.config.HASH_MODEL), so it is never mixed with a real model's vectors.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata

import numpy as np
import numpy.typing as npt

#: Feature weights: a word, a pair of neighbouring words, each character 3-gram of a word (so
#: "tariff" and "tariffs", which share five of their 3-grams, have cosine ~0.5).
WORD_WEIGHT = 1.0
PAIR_WEIGHT = 0.5
NGRAM_WEIGHT = 0.5
NGRAM = 3
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


class HashEmbedder:
    """Unit vectors of hashed word, word-pair and character 3-gram features (kb.embed.Embedder).

    It reads no meaning (reads_meaning: the answer finds no word by it), and a question's
    cosine to a sentence that answers it runs lower than a model's: similarity_offset puts it
    on the main model's scale for the answer's thresholds (kb.answer.sentences.similarity_to)."""

    reads_meaning = False
    similarity_offset = 0.3

    def __init__(self, dimension: int = 384, *, max_tokens: int = 256) -> None:
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.name = f"hash-{dimension}"

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised row per text; a text without words gets the first unit vector."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in features(text):
                slot, sign = self._slot(feature)
                out[row, slot] += sign * weight
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out

    def count_tokens(self, text: str) -> int:
        """Words and punctuation marks of text (a word piece counts as one of them)."""
        return len(_TOKEN.findall(text))

    def _slot(self, feature: str) -> tuple[int, float]:
        value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        return value % self.dimension, 1.0 if value >> 63 else -1.0


def fold(text: str) -> str:
    """Lower case without accents: "León" and "leon" are one word here."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def features(text: str) -> list[tuple[str, float]]:
    """The weighted features of text: words, neighbouring word pairs, and each word's
    character 3-grams (of the word padded with < and >)."""
    words = _WORD.findall(fold(text))
    out = [(f"w:{w}", WORD_WEIGHT) for w in words]
    out += [(f"p:{a} {b}", PAIR_WEIGHT) for a, b in itertools.pairwise(words)]
    for word in words:
        padded = f"<{word}>"
        grams = [padded[i : i + NGRAM] for i in range(len(padded) - NGRAM + 1)]
        out += [(f"c:{g}", NGRAM_WEIGHT) for g in grams]
    return out
