"""Measuring kb: quality on real data sets (kb.evaluation.quality, scripts/evaluate.py), speed
and scale (kb.evaluation.bench and scale, scripts/bench.py), a reader's cost of another
process's refresh (kb.evaluation.freshness), and the LangChain recipe kb is compared with
(kb.evaluation.recipe). The data sets and the newsroom are read from ../shared at run time
(kb.evaluation.shared); tests/test_quality.py gates the same metrics on fixed subsets.

Progress is logged at INFO on the kb.evaluation loggers; the command lines show it on stderr.
"""
