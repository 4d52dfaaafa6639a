"""Stable identities: canonical URLs, sha256 ids that survive a new process."""

import subprocess
import sys

import pytest

from kb.ids import article_id, canonical_url, chunk_id, digest


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/news/a-story",
        "http://example.com/news/a-story/",
        "HTTPS://WWW.Example.COM/news/a-story#comments",
        "https://example.com/news/a-story?utm_source=rss&utm_medium=feed",
        "https://example.com:443/news/a-story?fbclid=abc",
    ],
)
def test_variants_of_one_link_share_a_canonical_url(variant: str) -> None:
    assert canonical_url(variant) == "https://example.com/news/a-story"


def test_canonical_url_keeps_meaningful_query_sorted_and_odd_ports() -> None:
    url = "http://example.com:8080/p?b=2&utm_campaign=x&a=1"
    assert canonical_url(url) == "https://example.com:8080/p?a=1&b=2"


def test_canonical_url_keeps_path_case_and_leaves_non_http_alone() -> None:
    assert canonical_url("https://example.com/Story") != canonical_url("https://example.com/story")
    assert canonical_url(" guid:1234 ") == "guid:1234"


def test_digest_is_unambiguous() -> None:
    assert digest("ab", "c") != digest("a", "bc")
    assert digest("a") == digest("a")
    assert len(digest("a")) == 64


def test_ids_are_stable_across_processes() -> None:
    code = "from kb.ids import article_id; print(article_id('https://example.com/a'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == article_id("https://example.com/a")
    assert len(out) == 24


def test_chunk_id_names_the_article_and_index() -> None:
    assert chunk_id("abc", 7) == "abc-0007"
    assert chunk_id("abc", 7) != chunk_id("abc", 8)
