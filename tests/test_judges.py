"""The arithmetic of the judge study (kb.evaluation.judges) on figures worked by hand."""

import numpy as np
import pytest

from kb.evaluation import judges


def test_auc_counts_pairs_and_half_ties():
    assert judges.auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert judges.auc([0.1], [0.9]) == 0.0
    # (0.5 > 0.4) wins, (0.5 = 0.5) half, (0.3 < 0.4, 0.5) lose: 1.5 of 4 pairs
    assert judges.auc([0.5, 0.3], [0.4, 0.5]) == pytest.approx(0.375)


def test_declined_at_uses_the_answerable_quantile():
    positive = list(np.linspace(0.5, 1.0, 101))  # its 5 % quantile is 0.525
    negative = [0.1, 0.52, 0.53, 0.9]
    assert judges.declined_at(positive, negative, 0.05) == 0.5


def test_cross_validated_logistic_separates_a_separable_set():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(1.0, 0.3, (40, 2)), rng.normal(-1.0, 0.3, (40, 2))])
    y = np.array([1.0] * 40 + [0.0] * 40)
    scores = judges.cross_validated(x, y)
    assert judges.auc(scores[y == 1], scores[y == 0]) > 0.99
    noise = judges.cross_validated(rng.normal(0, 1, (80, 2)), y)
    assert judges.auc(noise[y == 1], noise[y == 0]) < 0.75
