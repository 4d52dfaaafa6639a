"""Briefings: the stories of a period, ranked and told by their most central sentences, each
cited, with no LLM (compose), written as Markdown, HTML, JSON or Atom (render)."""

from kb.briefing.compose import Briefing, Item, Quote, Source, compose
from kb.briefing.render import FORMATS, render

__all__ = ["FORMATS", "Briefing", "Item", "Quote", "Source", "compose", "render"]
