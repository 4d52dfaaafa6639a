"""The kb Streamlit page: ask the news knowledge base a question, read a cited answer, browse and
refresh the feeds.

Widgets and rendering only; all logic lives in kb. Feed and article text is untrusted: every
string from the index is HTML-escaped before it reaches st.html (never st.markdown, whose markdown
and $math$ syntax feed text could trigger), messages get their markdown escaped, and only http(s)
URLs become links. The question and filters live in the URL, so a link reproduces the view.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from urllib.parse import urlsplit

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from kb import (
    Answer,
    ArticleSummary,
    Citation,
    Facets,
    Filters,
    IngestReport,
    KBError,
    KnowledgeBase,
    RefreshStatus,
    Settings,
    Stats,
    Story,
    Watch,
    WatchMatch,
)
from kb.alerts import AnswerRecord, AnswerState
from kb.answer import NO_ANSWER
from kb.briefing import Briefing, Item
from kb.briefing import render as render_briefing

logger = logging.getLogger(__name__)

STYLE = """<style>
.kb-answer { font-size: 1.1rem; line-height: 1.6; }
.kb-ref { text-decoration: none; font-weight: 600; }
.kb-card { border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.5rem;
  padding: 0.75rem 1rem; scroll-margin-top: 4rem; }
.kb-card:target { border-color: #ff4b4b; }
.kb-title { font-weight: 600; font-size: 1.05rem; }
.kb-meta { opacity: 0.7; font-size: 0.875rem; margin: 0.15rem 0 0.5rem; }
.kb-passage { white-space: pre-line; margin: 0 0 0.5rem; }
.kb-passage mark { background: rgba(255, 214, 0, 0.45); color: inherit; padding: 0 0.1rem; }
.kb-passage mark b, .kb-answer b { background: rgba(255, 160, 0, 0.45); }
.kb-related .kb-card { font-size: 0.9rem; opacity: 0.9; }
.kb-lang { font-size: 0.75rem; border: 1px solid rgba(128, 128, 128, 0.5); border-radius: 0.3rem;
  padding: 0 0.3rem; margin-left: 0.4rem; font-weight: 400; }
.kb-failed li { margin-bottom: 0.4rem; overflow-wrap: anywhere; }
.kb-latest { list-style: none; padding: 0; margin: 0; }
.kb-latest li { padding: 0.5rem 0; border-bottom: 1px solid rgba(128, 128, 128, 0.2); }
.kb-latest .kb-meta { margin: 0.1rem 0 0; }
.kb-feed { font-size: 0.8rem; overflow-wrap: anywhere; padding-top: 0.45rem; }
.kb-watch { font-size: 0.9rem; overflow-wrap: anywhere; }
.kb-also { font-size: 0.875rem; margin: 0 0 0.4rem; }
.kb-differs { font-size: 0.875rem; margin: 0 0 0.4rem; padding-left: 0.6rem;
  border-left: 3px solid #d97706; }
.kb-differs blockquote { margin: 0.2rem 0; }
.kb-story ol { padding-left: 1.2rem; margin: 0.3rem 0 0; }
.kb-story li { font-size: 0.9rem; margin-bottom: 0.2rem; }
.kb-copy { opacity: 0.7; font-size: 0.8rem; }
.kb-brief blockquote { margin: 0.3rem 0 0.3rem 0.6rem; padding-left: 0.6rem;
  border-left: 3px solid rgba(128, 128, 128, 0.4); }
.kb-brief-sources { font-size: 0.85rem; overflow-wrap: anywhere; }
.kb-side { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.kb-side > div:last-child { opacity: 0.75; }
.kb-history ol { font-size: 0.85rem; padding-left: 1.2rem; overflow-wrap: anywhere; }
</style>"""
_MARKER = re.compile(r"\[(\d+)\]")
#: A story's id (its first article's): what a ?story= link may carry.
_STORY_ID = re.compile(r"[0-9a-f]{1,64}")
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
#: The widest date range the date pickers offer.
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)
#: Passages the timeline counts articles among, for a question.
TIMELINE_PASSAGES = 50
LATEST_PAGE = 20
#: Stories listed at once in the Stories view.
STORIES_PAGE = 50
#: The Briefing view's periods (their labels, and how far back from now each reaches).
BRIEF_PERIODS = {
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}
FILTER_DATES = "The dates chosen under Filters"
MAX_TOPIC_CHARS = 500
#: Seconds between two reads of the index's status and saved questions by an open page, so it
#: shows another process's refresh without a click.
LIVE_EVERY = 4.0
LANGUAGE_NAMES = {
    "ca": "Catalan",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
}
#: Shown above an answer whose search was degraded (kb.Answer.degraded holds the notes).
DEGRADED = "Part of the search failed, so this answer may be missing passages: {notes}"
#: The page's own words in Spanish (English is the default and the key); kb's own messages
#: (an answer's reason) come in the question's language.
SPANISH = {
    "Loading the knowledge base…": "Cargando la base de conocimiento…",
    "Read the article →": "Leer el artículo →",
    "Untitled": "Sin título",
    "Articles": "Artículos",
    "Week": "Semana",
    "Reading articles: {done} of {total}": "Leyendo artículos: {done} de {total}",
    "Reading feeds: {done} of {total}": "Leyendo canales: {done} de {total}",
    "Starting…": "Empezando…",
    "Answer": "Respuesta",
    DEGRADED: "Parte de la búsqueda falló, así que a esta respuesta pueden faltarle pasajes: "
    "{notes}",
    "Sources": "Fuentes",
    "Related": "Relacionados",
    "Closest passages found (they do not answer it)": (
        "Los pasajes más cercanos encontrados (no la responden)"
    ),
    "Newest first (from “{phrase}”)": "Lo más reciente primero (por “{phrase}”)",
    "Articles from {label} first (from “{phrase}”)": (
        "Primero artículos de {label} (por “{phrase}”)"
    ),
    "✕ Remove": "✕ Quitar",
    "Ask again without this date": "Preguntar de nuevo sin esta fecha",
    "Timeline": "Cronología",
    "No dated articles to draw.": "No hay artículos fechados que dibujar.",
    "Searching the knowledge base…": "Buscando en la base de conocimiento…",
    "Latest articles": "Últimos artículos",
    "Stories": "Historias",
    "Also in: ": "También en: ",
    "Other outlets give other figures:": "Otros medios dan otras cifras:",
    "{figure} where this says {instead_of}": "{figure} donde esta dice {instead_of}",
    "the story ({n} outlets)": "la historia ({n} medios)",
    "First reported by {feed} on {date}": "Publicada primero por {feed} el {date}",
    "{n} outlets: {outlets}": "{n} medios: {outlets}",
    "1 outlet: {outlets}": "1 medio: {outlets}",
    "copy of {feed}": "copia de {feed}",
    "The latest stories, each once with the outlets that report it.": (
        "Las últimas historias, cada una una vez con los medios que la publican."
    ),
    "Include stories only one article reports": "Incluir historias de un solo artículo",
    "No stories match these dates.": "Ninguna historia corresponde a estas fechas.",
    "Briefing": "Resumen",
    "Answer history": "Historial de respuestas",
    "New answer": "Respuesta nueva",
    "Previous answer": "Respuesta anterior",
    "(no answer)": "(sin respuesta)",
    "What changed: {summary}": "Qué cambió: {summary}",
    "First answer kept": "Primera respuesta guardada",
    "Said otherwise, nothing new": "Dicho de otra forma, nada nuevo",
    "Send alerts to": "Enviar avisos a",
    "When its answer states something new, an alert goes to these destinations.": (
        "Cuando su respuesta diga algo nuevo, se envía un aviso a estos destinos."
    ),
    "Kind": "Tipo",
    "Email address, webhook URL or apprise URL": "Correo, URL de webhook o URL de apprise",
    "Webhook signing secret (16+ characters)": "Secreto de firma del webhook (16+ caracteres)",
    "Add destination": "Añadir destino",
    "Added {target}": "Se añadió {target}",
    "Could not add it: {error}": "No se pudo añadir: {error}",
    "Remove": "Quitar",
    "all saved questions": "todas las preguntas guardadas",
    "Send this briefing on a schedule": "Enviar este resumen periódicamente",
    "Destination": "Destino",
    "Every": "Cada",
    "daily": "día",
    "weekly": "semana",
    "At (UTC)": "A las (UTC)",
    "Weekday": "Día de la semana",
    "Schedule": "Programar",
    "Scheduled: {line}": "Programado: {line}",
    "Add a destination under a saved question first.": (
        "Añada primero un destino en una pregunta guardada."
    ),
    "Period": "Periodo",
    "Last 24 hours": "Últimas 24 horas",
    "Last 7 days": "Últimos 7 días",
    "Last 30 days": "Últimos 30 días",
    "The dates chosen under Filters": "Las fechas elegidas en Filtros",
    "Topic (optional): a question or a subject": "Tema (opcional): una pregunta o un asunto",
    (
        "The period's stories, those most outlets carry first, each in its most central "
        "sentences as the articles write them."
    ): (
        "Las historias del periodo, primero las que publican más medios, cada una con sus "
        "frases más centrales tal como las escriben los artículos."
    ),
    "No stories in this period.": "Ninguna historia en este periodo.",
    "Download (Markdown)": "Descargar (Markdown)",
    "Download (HTML, for email)": "Descargar (HTML, para correo)",
    "Download (Atom feed)": "Descargar (canal Atom)",
    "That story is no longer in the knowledge base.": (
        "Esa historia ya no está en la base de conocimiento."
    ),
    "No articles match these filters.": "Ningún artículo corresponde a estos filtros.",
    "Show more": "Mostrar más",
    "{n} matching articles, by week of publication.": (
        "{n} artículos encontrados, por semana de publicación."
    ),
    "The {n} latest articles, by week of publication.": (
        "Los {n} últimos artículos, por semana de publicación."
    ),
    "Filters": "Filtros",
    "Articles run from {first} to {last}.": "Los artículos van del {first} al {last}.",
    "From": "Desde",
    "To": "Hasta",
    "All": "Todos",
    "Feeds": "Canales",
    "Tags": "Etiquetas",
    "Languages": "Idiomas",
    "“From” is after “To”: no article can match.": (
        "“Desde” es posterior a “Hasta”: ningún artículo puede coincidir."
    ),
    "Clear filters": "Quitar filtros",
    "Index": "Índice",
    "Passages": "Pasajes",
    "Last refresh: {when}": "Última actualización: {when}",
    "{n} feed(s) failed": "{n} canal(es) fallaron",
    "Refresh now": "Actualizar ahora",
    "A refresh is already running; its progress is shown below.": (
        "Ya hay una actualización en curso; su progreso se muestra abajo."
    ),
    "Refreshed: {new} new, {updated} updated, {ok} of {total} feeds read.": (
        "Actualizado: {new} nuevos, {updated} modificados, {ok} de {total} canales leídos."
    ),
    "Refresh report": "Informe de la actualización",
    "Removed {url}": "Se quitó {url}",
    "Enter a feed URL first.": "Escriba primero la URL de un canal.",
    "Reading the feed…": "Leyendo el canal…",
    "Could not add {url}: {error}": "No se pudo añadir {url}: {error}",
    "Added {title}": "Se añadió {title}",
    "Manage feeds": "Gestionar canales",
    "Add a feed": "Añadir un canal",
    "Add feed": "Añadir canal",
    "Remove this feed": "Quitar este canal",
    "The knowledge base is empty: no articles have been ingested yet.": (
        "La base de conocimiento está vacía: aún no se ha incorporado ningún artículo."
    ),
    (
        "Press **Refresh now** in the sidebar to read the feeds listed under "
        "**Manage feeds**, or read them from a terminal, then reload this page:"
    ): (
        "Pulse **Actualizar ahora** en la barra lateral para leer los canales "
        "de **Gestionar canales**, o léalos desde una terminal y recargue esta "
        "página:"
    ),
    "The README explains how to choose your own feeds and keep the index fresh.": (
        "El README explica cómo elegir sus canales y mantener el índice al día."
    ),
    "This page reads the index directory below (set KB_INDEX_DIR to change it).": (
        "Esta página lee el directorio de índice de abajo (KB_INDEX_DIR lo cambia)."
    ),
    "Ask a question": "Haga una pregunta",
    "What does IMMEX stand for?": "¿Qué significa IMMEX?",
    "News knowledge base": "Base de conocimiento de noticias",
    "The knowledge base holds no good answer to this question.": (
        "La base de conocimiento no tiene una buena respuesta a esta pregunta."
    ),
    "Page language": "Idioma de la página",
    "Saved questions": "Preguntas guardadas",
    "A watcher (pid {pid}) keeps it fresh; next refresh: {when}": (
        "Un vigilante (pid {pid}) lo mantiene al día; próxima actualización: {when}"
    ),
    "No watcher running (python scripts/ingest.py --watch keeps it fresh).": (
        "Ningún vigilante en marcha (python scripts/ingest.py --watch lo mantiene al día)."
    ),
    "Save a question (below its answer) to be shown the new articles that answer it.": (
        "Guarde una pregunta (bajo su respuesta) para ver los nuevos artículos que la responden."
    ),
    "{n} new": "{n} nuevos",
    "☆ Save this question": "☆ Guardar esta pregunta",
    "After each refresh, the new articles that answer it are listed under Saved questions.": (
        "Tras cada actualización, los nuevos artículos que la responden aparecen en Preguntas "
        "guardadas."
    ),
    "Saved. New articles that answer it will be listed under Saved questions.": (
        "Guardada. Los nuevos artículos que la respondan aparecerán en Preguntas guardadas."
    ),
    "Could not save the question: {error}": "No se pudo guardar la pregunta: {error}",
    "New for “{question}”": "Novedades para “{question}”",
    "Nothing new since you last looked.": "Nada nuevo desde su última visita.",
    "Mark as seen": "Marcar como vistos",
    "Delete saved question": "Borrar la pregunta guardada",
    "Close": "Cerrar",
    "Earlier matches": "Coincidencias anteriores",
    "never": "nunca",
    "Catalan": "catalán",
    "German": "alemán",
    "English": "inglés",
    "Spanish": "español",
    "French": "francés",
    "Italian": "italiano",
    "Dutch": "neerlandés",
    "Portuguese": "portugués",
}
PAGE_LANGUAGES = {"": "Auto", "en": "English", "es": "Español"}


def page_language() -> str:
    """The page's language: the reader's choice on the page, else KB_UI_LANGUAGE, else the
    browser's language (Spanish for es-*), else English."""
    try:
        chosen = str(st.session_state.get("ui_language") or "")
    except Exception:  # a helper called outside a page run
        return "en"
    return chosen if chosen in ("en", "es") else "en"


def tr(text: str, **values: object) -> str:
    """text in the page's language, with values filled in."""
    words = SPANISH.get(text, text) if page_language() == "es" else text
    return words.format(**values) if values else words


def browser_language() -> str:
    """'es' when the browser asks for Spanish first, else 'en'."""
    try:
        locale = str(st.context.locale or "")
    except Exception:
        locale = ""
    return "es" if locale.lower().startswith("es") else "en"


#: Widget keys of the filters, so "Clear filters" can reset them.
FILTER_KEYS = ("since", "until", "feeds", "tags", "languages")


# --- the knowledge base and its refresh -------------------------------------------------------
@st.cache_resource(
    show_spinner="Loading the knowledge base… / Cargando…", on_release=KnowledgeBase.close
)
def load_kb(settings: Settings) -> KnowledgeBase:
    """One knowledge base per settings per process; the model loads (and warms up) here, once."""
    kb = KnowledgeBase.open(settings=settings)
    if kb.stats().articles:
        kb.embedder.embed(["warm up"])
    return kb


class RefreshJob:
    """A refresh (kb.ingest) run in a background thread: a rerun of the page (any click) cannot
    interrupt it, and a second click while it runs starts nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stage, self.done, self.total = "", 0, 0
        self.report: IngestReport | None = None
        self.error = ""
        self.runs = 0

    @property
    def running(self) -> bool:
        """Whether an ingest is under way."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, kb: KnowledgeBase) -> int | None:
        """Start a refresh of kb's feed list; its run number, or None if one is running."""
        with self._lock:
            if self.running:
                return None
            self.stage, self.done, self.total = "feeds", 0, 0
            self.report, self.error = None, ""
            self.runs += 1
            self._thread = threading.Thread(target=self._run, args=(kb,), daemon=True)
            self._thread.start()
            return self.runs

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current refresh (if any) has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.stage, self.done, self.total = stage, done, total

    def _run(self, kb: KnowledgeBase) -> None:
        try:
            self.report = kb.ingest(progress=self._progress)
        except KBError as exc:  # e.g. the ingest lock is held by scripts/ingest.py
            self.error = str(exc)
        except Exception as exc:  # a thread has nobody to raise to: record it for the page
            logger.exception("refresh failed")
            self.error = f"the refresh failed: {exc}"


@st.cache_resource
def refresh_job(index_dir: str) -> RefreshJob:
    """The refresh of one index, shared by every session of this process."""
    return RefreshJob()


# --- the view: question and filters, round-tripping through the URL ---------------------------
@dataclass(frozen=True)
class View:
    """What the page shows: a question and filters; `?q=&feed=&tag=&lang=&since=&until=`."""

    question: str = ""
    feeds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_params(cls, get_all: Callable[[str], list[str]]) -> View:
        """The view a URL asks for (get_all: st.query_params.get_all); bad dates are ignored."""
        return cls(
            question=" ".join(get_all("q")[-1:]).strip(),
            feeds=tuple(dict.fromkeys(get_all("feed"))),
            tags=tuple(dict.fromkeys(get_all("tag"))),
            languages=tuple(dict.fromkeys(get_all("lang"))),
            since=parse_date(get_all("since")),
            until=parse_date(get_all("until")),
        )

    def params(self) -> dict[str, str | list[str]]:
        """The URL query parameters for this view (repeated keys for several values)."""
        params: dict[str, str | list[str]] = {}
        if self.question.strip():
            params["q"] = self.question.strip()
        for key, values in (("feed", self.feeds), ("tag", self.tags), ("lang", self.languages)):
            if values:
                params[key] = list(values)
        for key, day in (("since", self.since), ("until", self.until)):
            if day:
                params[key] = day.isoformat()
        return params

    def filters(self) -> Filters:
        """kb filters for this view; the dates are whole days in UTC, both inclusive."""
        return Filters(
            since=datetime.combine(self.since, time.min, UTC) if self.since else None,
            until=datetime.combine(self.until, time.max, UTC) if self.until else None,
            feeds=self.feeds,
            categories=self.tags,
            languages=self.languages,
        )


def parse_date(values: list[str]) -> date | None:
    """The last value as a YYYY-MM-DD date within the pickers' range, else None."""
    try:
        day = date.fromisoformat(values[-1]) if values else None
    except ValueError:
        return None
    return day if day and EARLIEST <= day <= LATEST else None


def restore_from_url() -> None:
    """On a session's first run, fill the widgets from the URL so a shared link reproduces it."""
    if st.session_state.get("restored"):
        return
    st.session_state["restored"] = True
    view = View.from_params(st.query_params.get_all)
    story = st.query_params.get_all("story")[-1:]
    if story and _STORY_ID.fullmatch(story[0]):
        st.session_state["story_view"] = story[0]
    st.session_state.update(
        question=view.question,
        feeds=list(view.feeds),
        tags=list(view.tags),
        languages=list(view.languages),
        since=view.since,
        until=view.until,
    )


def sync_url(view: View) -> None:
    """Write the view into the URL (only when it changed, so history is not spammed)."""
    wanted = view.params()
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    if current != {k: v if isinstance(v, list) else [v] for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)


# --- presentation helpers (pure) --------------------------------------------------------------
def safe_url(url: str) -> str | None:
    """url if it is an absolute http(s) URL, else None (javascript:, data:, relative...)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def link(url: str, text: str) -> str:
    """An escaped link opening in a new tab, or the escaped text alone when url is not safe."""
    href = safe_url(url)
    if href is None:
        return html.escape(text)
    return (
        f'<a href="{html.escape(href)}" target="_blank" '
        f'rel="noopener noreferrer">{html.escape(text)}</a>'
    )


def escape_markdown(text: str) -> str:
    """text with every ASCII punctuation backslash-escaped, so st.error/st.warning show it
    literally (no links, images, emphasis or $math$ from a feed or a server's reply)."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def format_date(moment: datetime | date | None) -> str:
    """26 Jan 2026 (no leading zero), or '' for an unknown date."""
    return f"{moment.day} {moment:%b %Y}" if moment else ""


def format_refresh(moment: datetime | None) -> str:
    """26 Jan 2026, 22:33 UTC, or 'never'."""
    return f"{format_date(moment)}, {moment:%H:%M %Z}".strip() if moment else tr("never")


def plural(n: int, word: str) -> str:
    """'1 article', '2 articles'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def language_name(code: str) -> str:
    """'Spanish (es)' for 'es'; an unknown code as itself."""
    name = LANGUAGE_NAMES.get(code)
    return f"{tr(name)} ({code})" if name else code


def answer_html(answer: Answer) -> str:
    """The answer text, escaped, with each [n] linked to citation card n."""
    numbers = {c.n for c in answer.citations}

    def ref(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f'<a class="kb-ref" href="#citation-{n}">[{n}]</a>' if n in numbers else match[0]

    return f'<p class="kb-answer">{_MARKER.sub(ref, html.escape(answer.text))}</p>'


def passage_html(citation: Citation, *, highlight: bool) -> str:
    """The passage, escaped, with the quoted sentence in <mark> (and the part of it that
    answers in <b>) when highlight is wanted."""
    text = citation.passage
    if not (highlight and citation.highlight):
        return html.escape(text)
    start, end = citation.highlight
    inner = html.escape(text[start:end])
    if citation.answer_span and start <= citation.answer_span[0] < citation.answer_span[1] <= end:
        a, b = citation.answer_span
        inner = (
            html.escape(text[start:a])
            + f"<b>{html.escape(text[a:b])}</b>"
            + html.escape(text[b:end])
        )
    return html.escape(text[:start]) + f"<mark>{inner}</mark>" + html.escape(text[end:])


def citation_html(citation: Citation, *, highlight: bool) -> str:
    """A numbered card: linked title, language, date and feed, passage, a link to the article."""
    meta = " · ".join(x for x in (format_date(citation.published), citation.feed) if x)
    read = link(citation.url, tr("Read the article →")) if safe_url(citation.url) else ""
    lang = (
        f'<span class="kb-lang" title="{html.escape(language_name(citation.language))}">'
        f"{html.escape(citation.language.upper())}</span>"
        if citation.language
        else ""
    )
    title = link(citation.url, citation.title or tr("Untitled"))
    return (
        f'<div class="kb-card" id="citation-{citation.n}">'
        f'<div class="kb-title">[{citation.n}] {title}'
        f'{lang}</div><div class="kb-meta">{html.escape(meta)}</div>'
        f'<p class="kb-passage">{passage_html(citation, highlight=highlight)}</p>'
        f"{also_in_html(citation)}{differs_html(citation)}{read}</div>"
    )


def differs_html(citation: Citation) -> str:
    """The other outlets' sentences that give other figures than the quoted one, each with its
    outlet, date and link (nothing when they agree or none gives a figure for it)."""
    if not citation.differs:
        return ""
    said = "{figure} where this says {instead_of}"
    items = "".join(
        f"<li>{link(d.url, d.feed)}"
        f"{html.escape(' · ' + format_date(d.published) if d.published else '')}: "
        f"<b>{html.escape(tr(said, figure=d.figure, instead_of=d.instead_of))}</b>"
        f"<blockquote>{html.escape(d.sentence)}</blockquote></li>"
        for d in citation.differs
    )
    title = html.escape(tr("Other outlets give other figures:"))
    return f'<div class="kb-differs">{title}<ul>{items}</ul></div>'


def also_in_html(citation: Citation) -> str:
    """The other outlets reporting the cited article's story, linked, and a link to the story
    (nothing when no other outlet reports it)."""
    if not citation.also_in:
        return ""
    outlets = ", ".join(link(url, feed) for feed, url in citation.also_in)
    story = story_link(
        citation.story_id, tr("the story ({n} outlets)", n=len(citation.also_in) + 1)
    )
    return f'<p class="kb-also">{html.escape(tr("Also in: "))}{outlets} · {story}</p>'


def story_link(story_id: str, text: str) -> str:
    """A link that opens a story on this page (its id is hex: nothing to escape but the text)."""
    if not _STORY_ID.fullmatch(story_id):
        return html.escape(text)
    return f'<a href="?story={story_id}" target="_self">{html.escape(text)}</a>'


def story_html(story: Story) -> str:
    """A story: its first report's title, who reported it first and when, its outlets, and its
    timeline of articles (copies marked with their original's outlet)."""
    first = story.first
    head = tr(
        "First reported by {feed} on {date}", feed=first.feed, date=format_date(first.published)
    )
    outlets = tr("{n} outlets: {outlets}", n=len(story.sources), outlets=", ".join(story.sources))
    by_id = {a.article_id: a for a in story.articles}
    items = []
    for article in story.articles:
        original = by_id.get(article.copy_of)
        copy = (
            f' <span class="kb-copy">({html.escape(tr("copy of {feed}", feed=original.feed))})'
            "</span>"
            if original
            else ""
        )
        when = html.escape(format_date(article.published))
        items.append(
            f"<li>{when} · {html.escape(article.feed)}: "
            f"{link(article.url, article.title or tr('Untitled'))}{copy}</li>"
        )
    return (
        f'<div class="kb-card kb-story" id="story-{html.escape(story.story_id)}">'
        f'<div class="kb-title">{link(first.url, story.title or tr("Untitled"))}</div>'
        f'<div class="kb-meta">{html.escape(head)} · {html.escape(outlets)}</div>'
        f"<ol>{''.join(items)}</ol></div>"
    )


def brief_byline(briefing: Briefing, item: Item) -> str:
    """How many outlets carry a briefing's story, which, and who reported it first."""
    first = tr(
        "First reported by {feed} on {date}",
        feed=item.first_feed,
        date=format_date(item.first_published),
    )
    label = "1 outlet: {outlets}" if len(item.sources) == 1 else "{n} outlets: {outlets}"
    outlets = tr(label, n=len(item.sources), outlets=", ".join(item.sources))
    return f"{outlets} · {first}"


def briefing_html(briefing: Briefing) -> str:
    """A briefing as cards: each story's title, outlets and first report, its quotes with
    their [n], then the numbered sources (outlet, date, linked title)."""
    cards = []
    for item in briefing.items:
        quotes = "".join(
            f"<blockquote>{html.escape(q.text)} "
            f'<a href="#brief-source-{q.source}">[{q.source}]</a></blockquote>'
            for q in item.quotes
        )
        cards.append(
            f'<div class="kb-card kb-brief" id="brief-{html.escape(item.story_id)}">'
            f'<div class="kb-title">{link(item.url, item.title or tr("Untitled"))}</div>'
            f'<div class="kb-meta">{html.escape(brief_byline(briefing, item))}</div>{quotes}</div>'
        )
    sources = "".join(
        f'<li id="brief-source-{s.n}" value="{s.n}">{html.escape(s.feed)}, '
        f"{html.escape(format_date(s.published))}: {link(s.url, s.title or tr('Untitled'))}</li>"
        for s in briefing.sources
    )
    return (
        "".join(cards)
        + f'<div class="kb-brief-sources"><strong>{html.escape(tr("Sources"))}</strong>'
        f"<ol>{sources}</ol></div>"
    )


def answer_state_html(state: AnswerState | None) -> str:
    """One answer of a saved question's history: its text and its numbered sources."""
    if state is None or not state.confident:
        return f"<p>{html.escape(tr('(no answer)'))}</p>"
    cited = "".join(
        f'<li value="{c.n}">{html.escape(c.feed)}, {html.escape((c.published or "")[:10])}: '
        f"{link(c.url, c.title or tr('Untitled'))}</li>"
        for c in state.cited
    )
    return f'<p class="kb-answer-then">{html.escape(state.text)}</p><ol>{cited}</ol>'


def history_html(record: AnswerRecord) -> str:
    """A change in a saved question's answer: what changed, then the new answer and the
    previous one side by side."""
    when = html.escape(format_refresh(record.answered_at))
    if record.change is None:
        label = (
            tr("First answer kept")
            if record.previous is None
            else tr("Said otherwise, nothing new")
        )
        return (
            f'<div class="kb-card kb-history"><div class="kb-meta">{when} · '
            f"{html.escape(label)}</div>{answer_state_html(record.state)}</div>"
        )
    summary = record.change.summary(page_language() == "es")
    return (
        f'<div class="kb-card kb-history kb-changed"><div class="kb-meta">{when} · '
        f"{html.escape(tr('What changed: {summary}', summary=summary))}</div>"
        '<div class="kb-side">'
        f"<div><strong>{html.escape(tr('New answer'))}</strong>{answer_state_html(record.state)}"
        "</div>"
        f"<div><strong>{html.escape(tr('Previous answer'))}</strong>"
        f"{answer_state_html(record.previous)}</div></div></div>"
    )


def match_html(match: WatchMatch) -> str:
    """A saved question's match: linked title, language and date, the passage with the
    sentence that answered in <mark>."""
    lang = (
        f'<span class="kb-lang" title="{html.escape(language_name(match.language))}">'
        f"{html.escape(match.language.upper())}</span>"
        if match.language
        else ""
    )
    at = match.passage.find(match.sentence) if match.sentence else -1
    if at < 0:
        passage = html.escape(match.passage)
    else:
        end = at + len(match.sentence)
        passage = (
            html.escape(match.passage[:at])
            + f"<mark>{html.escape(match.sentence)}</mark>"
            + html.escape(match.passage[end:])
        )
    title = link(match.url, match.title or tr("Untitled"))
    return (
        f'<div class="kb-card kb-match"><div class="kb-title">{title}{lang}</div>'
        f'<div class="kb-meta">{html.escape(format_date(match.published))}</div>'
        f'<p class="kb-passage">{passage}</p></div>'
    )


def latest_html(articles: Iterable[ArticleSummary]) -> str:
    """The articles as an escaped list: linked title, then feed, date and language."""
    items = []
    for article in articles:
        meta = (article.feed, format_date(article.published), language_name(article.language))
        items.append(
            f'<li><div class="kb-title">{link(article.url, article.title or tr("Untitled"))}</div>'
            f'<div class="kb-meta">{html.escape(" · ".join(x for x in meta if x))}</div></li>'
        )
    return f'<ul class="kb-latest">{"".join(items)}</ul>'


def failed_feeds_html(stats: Stats) -> str:
    """The failed feeds and their last errors as an escaped list."""
    items = "".join(
        f"<li><b>{html.escape(f.title or f.url)}</b><br>{html.escape(f.last_error or '')}</li>"
        for f in stats.failed_feeds
    )
    return f'<ul class="kb-failed">{items}</ul>'


def article_dates(items: Iterable[tuple[str, datetime | None]]) -> list[date]:
    """The publication day of each distinct article url (first seen wins); undated skipped."""
    first: dict[str, datetime | None] = {}
    for url, published in items:
        first.setdefault(url, published)
    return [moment.date() for moment in first.values() if moment]


def weekly_counts(days: Iterable[date]) -> list[tuple[date, int]]:
    """(Monday of the ISO week, articles that week), oldest first; empty weeks left out."""
    weeks = Counter(day - timedelta(days=day.weekday()) for day in days)
    return sorted(weeks.items())


def timeline_chart(counts: list[tuple[date, int]]) -> alt.Chart:
    """A bar per ISO week on a time axis; the tooltip names the week."""
    data = pd.DataFrame(
        {
            "week": [pd.Timestamp(monday) for monday, _ in counts],
            "articles": [n for _, n in counts],
            "label": [f"{monday:%G-W%V} (from {format_date(monday)})" for monday, _ in counts],
        }
    )
    return (
        alt.Chart(data)
        .mark_bar(size=9, color="#ff4b4b")
        .encode(
            x=alt.X("week:T", title=None, scale=alt.Scale(padding=12)),  # whole end bars
            y=alt.Y("articles:Q", title=tr("Articles"), axis=alt.Axis(tickMinStep=1)),
            tooltip=[alt.Tooltip("label:N", title=tr("Week")), alt.Tooltip("articles:Q")],
        )
        .properties(height=180)
    )


def progress_of(stage: str, done: int, total: int) -> tuple[float, str]:
    """The progress bar's fraction and text: feeds are the first 30 %, articles the rest."""
    share = done / total if total else 0.0
    if stage == "articles":
        return 0.3 + 0.7 * share, tr("Reading articles: {done} of {total}", done=done, total=total)
    return 0.3 * share, tr(
        "Reading feeds: {done} of {total}", done=done, total=total
    ) if total else tr("Starting…")


# --- page sections ----------------------------------------------------------------------------
def show_answer(answer: Answer) -> None:
    """The answer then the sources that back it, or the decline and its reason; the other
    close passages under a collapsed "Related" (after a decline, the closest found, shown
    under a heading that says they do not answer it). A warning first when part of the search
    failed (the keyword search), so the answer may have missed passages."""
    if answer.degraded:
        notes = "; ".join(answer.degraded)
        st.warning(escape_markdown(tr(DEGRADED, notes=notes)))
    if answer.confident:
        st.subheader(tr("Answer"))
        st.html(answer_html(answer))
        st.subheader(tr("Sources"))
        for citation in answer.citations:
            st.html(citation_html(citation, highlight=True))
    else:
        st.info(escape_markdown(f"{tr(NO_ANSWER)} {answer.reason}".strip()))
    if not answer.related:
        return
    cards = (
        '<div class="kb-related">'
        + "".join(citation_html(c, highlight=False) for c in answer.related)
        + "</div>"
    )
    if answer.confident:
        with st.expander(f"{tr('Related')} ({len(answer.related)})", expanded=False):
            st.html(cards)
    else:
        # A decline still shows what came closest, said to be no answer.
        st.subheader(tr("Closest passages found (they do not answer it)"))
        st.html(cards)


def show_time_scope(answer: Answer) -> bool:
    """The time read in the question, as a filter the user can remove; True when removed."""
    when = answer.time
    if when is None:
        return False
    if when.since is None and when.until is None:
        shown = tr("Newest first (from “{phrase}”)", phrase=when.phrase)
    else:
        shown = tr(
            "Articles from {label} first (from “{phrase}”)", label=when.label, phrase=when.phrase
        )
    text, button = st.columns([5, 1], vertical_alignment="center")
    text.caption(escape_markdown(f"🕒 {shown}"))
    return button.button(tr("✕ Remove"), key="drop_time", help=tr("Ask again without this date"))


def show_timeline(days: list[date], caption: str) -> None:
    """The weekly timeline chart of the given publication days."""
    st.subheader(tr("Timeline"))
    if not days:
        st.caption(tr("No dated articles to draw."))
        return
    st.caption(caption)
    st.altair_chart(timeline_chart(weekly_counts(days)), width="stretch")


def show_question(kb: KnowledgeBase, question: str, filters: Filters) -> None:
    """The answer to question within filters, then when the matching articles appeared."""
    use_time = st.session_state.get("ignore_time_of") != question
    with st.spinner(tr("Searching the knowledge base…")):
        answer = kb.ask(question, filters=filters, use_time=use_time)
        hits = kb.search(question, k=TIMELINE_PASSAGES, filters=filters)
    if show_time_scope(answer):
        st.session_state["ignore_time_of"] = question
        st.rerun()
    show_answer(answer)
    save_question(kb, question, filters)
    days = article_dates((h.url, h.published) for h in hits)
    show_timeline(days, tr("{n} matching articles, by week of publication.", n=len(days)))


def save_question(kb: KnowledgeBase, question: str, filters: Filters) -> None:
    """The button that saves the question (with its filters) as a watch."""
    help_text = tr(
        "After each refresh, the new articles that answer it are listed under Saved questions."
    )
    if not st.button(tr("☆ Save this question"), key="save_watch", help=help_text):
        return
    try:
        kb.add_watch(question, filters)
    except KBError as exc:
        st.error(escape_markdown(tr("Could not save the question: {error}", error=exc)))
    else:
        st.success(tr("Saved. New articles that answer it will be listed under Saved questions."))


def show_saved(kb: KnowledgeBase) -> None:
    """Fragment, rerun every LIVE_EVERY s: the saved questions, each with a button saying how
    many new articles answer it, which opens them on the page."""
    st.header(tr("Saved questions"))
    watches = kb.watches()
    if not watches:
        st.caption(
            tr("Save a question (below its answer) to be shown the new articles that answer it.")
        )
        return
    for watch in watches:
        text, button = st.columns([3, 2], vertical_alignment="center")
        text.html(f'<div class="kb-watch">{html.escape(watch.question)}</div>')
        if button.button(
            tr("{n} new", n=watch.new),
            key=f"watch-{watch.watch_id}",
            type="primary" if watch.new else "secondary",
        ):
            st.session_state["watch_view"] = watch.watch_id
            st.rerun()  # the whole page, which shows the watch's matches


def show_watch(kb: KnowledgeBase, watch: Watch) -> None:
    """A saved question's new matches, newest first, with buttons to mark them seen, delete
    the question or close the list."""
    st.subheader(tr("New for “{question}”", question=watch.question))
    fresh = kb.new_for(watch)
    if fresh:
        st.html("".join(match_html(m) for m in fresh))
    else:
        st.info(tr("Nothing new since you last looked."))
    earlier = [m for m in kb.new_for(watch, include_seen=True) if m.seen]
    if earlier:
        with st.expander(f"{tr('Earlier matches')} ({len(earlier)})"):
            st.html("".join(match_html(m) for m in earlier))
    history = kb.answer_history(watch)
    if history:
        with st.expander(tr("Answer history"), expanded=any(r.change for r in history[:1])):
            st.html("".join(history_html(r) for r in history))
    with st.expander(tr("Send alerts to")):
        show_destinations(kb, watch)
    seen, delete, close = st.columns(3)
    if seen.button(tr("Mark as seen"), key="watch_seen", disabled=not fresh):
        kb.mark_seen(watch, [m.article_id for m in fresh])
        st.rerun()
    if delete.button(tr("Delete saved question"), key="watch_delete"):
        kb.remove_watch(watch)
        st.session_state.pop("watch_view", None)
        st.rerun()
    if close.button(tr("Close"), key="watch_close"):
        st.session_state.pop("watch_view", None)
        st.rerun()
    st.divider()


def show_destinations(kb: KnowledgeBase, watch: Watch) -> None:
    """Where a saved question's alerts go (its own destinations and those of every saved
    question), with a form to add one; targets are shown with their secrets hidden."""
    st.caption(tr("When its answer states something new, an alert goes to these destinations."))
    for dest in kb.destinations():
        if dest.watch_id not in (None, watch.watch_id):
            continue
        which = "" if dest.watch_id else f" ({tr('all saved questions')})"
        text, button = st.columns([4, 1], vertical_alignment="center")
        text.html(f'<div class="kb-watch">{html.escape(f"{dest.kind}: {dest.shown}{which}")}</div>')
        if button.button(tr("Remove"), key=f"dest-remove-{dest.dest_id}"):
            kb.remove_destination(dest.dest_id)
            st.rerun()
    with st.form("dest_form", clear_on_submit=True):
        kind = st.selectbox(tr("Kind"), ["email", "webhook", "apprise"], key="dest_kind")
        target = st.text_input(
            tr("Email address, webhook URL or apprise URL"), type="password", key="dest_target"
        )
        secret = st.text_input(
            tr("Webhook signing secret (16+ characters)"), type="password", key="dest_secret"
        )
        if st.form_submit_button(tr("Add destination")):
            try:
                dest = kb.add_destination(kind, target, secret=secret, watch=watch)
            except KBError as exc:
                st.error(escape_markdown(tr("Could not add it: {error}", error=exc)))
            else:
                st.success(escape_markdown(tr("Added {target}", target=dest.shown)))


def show_schedule_form(kb: KnowledgeBase, topic: str) -> None:
    """Send the briefing (on its topic) to a destination every day or week."""
    destinations = kb.destinations()
    if not destinations:
        st.caption(tr("Add a destination under a saved question first."))
        return
    for schedule in kb.briefing_schedules():
        data = schedule.to_dict()
        text, button = st.columns([4, 1], vertical_alignment="center")
        day = f" {data['weekday']}" if data["weekday"] else ""
        line = f"{tr(str(data['every']))}{day} {data['at']} UTC → {schedule.dest_id}"
        text.html(f'<div class="kb-watch">{html.escape(line)} {html.escape(schedule.topic)}</div>')
        if button.button(tr("Remove"), key=f"schedule-remove-{schedule.schedule_id}"):
            kb.remove_briefing_schedule(schedule.schedule_id)
            st.rerun()
    with st.form("schedule_form"):
        shown = {f"{d.dest_id}: {d.kind} {d.shown}": d.dest_id for d in destinations}
        picked = st.selectbox(tr("Destination"), list(shown), key="schedule_dest")
        every = st.selectbox(tr("Every"), ["daily", "weekly"], format_func=tr, key="schedule_every")
        at = st.text_input(tr("At (UTC)"), value="07:00", key="schedule_at")
        weekday = st.selectbox(
            tr("Weekday"), ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], key="schedule_day"
        )
        if st.form_submit_button(tr("Schedule")):
            try:
                schedule = kb.schedule_briefing(
                    shown[picked],
                    every=every,
                    at=at,
                    weekday=weekday,
                    topic=topic,
                    language=page_language(),
                )
            except KBError as exc:
                st.error(escape_markdown(tr("Could not add it: {error}", error=exc)))
            else:
                data = schedule.to_dict()
                line = f"{tr(str(data['every']))} {data['at']} UTC"
                st.success(escape_markdown(tr("Scheduled: {line}", line=line)))


def show_latest(kb: KnowledgeBase, filters: Filters) -> None:
    """The newest articles within filters, a 'Show more' button, and their timeline."""
    limit = st.session_state.setdefault("latest_limit", LATEST_PAGE)
    articles = kb.latest(limit, filters=filters)
    st.subheader(tr("Latest articles"))
    if not articles:
        st.info(tr("No articles match these filters."))
        return
    st.html(latest_html(articles))
    if len(articles) == limit:
        st.button(tr("Show more"), on_click=show_more)
    days = article_dates((a.url, a.published) for a in articles)
    show_timeline(days, tr("The {n} latest articles, by week of publication.", n=len(articles)))


def show_stories(kb: KnowledgeBase, filters: Filters) -> None:
    """The latest stories within the filters' dates, each once with its outlets and
    timeline; stories only one article reports are left out unless asked for."""
    st.caption(tr("The latest stories, each once with the outlets that report it."))
    single = st.checkbox(tr("Include stories only one article reports"), key="stories_single")
    stories = kb.stories(
        since=filters.since,
        until=filters.until,
        limit=STORIES_PAGE,
        min_articles=1 if single else 2,
    )
    if not stories:
        st.info(tr("No stories match these dates."))
        return
    st.html("".join(story_html(s) for s in stories))


def show_briefing(kb: KnowledgeBase, filters: Filters) -> None:
    """The briefing of a period (the last 7 days by default, or the filters' dates), narrowed
    to a topic when one is given, with downloads in Markdown, HTML and Atom."""
    st.caption(
        tr(
            "The period's stories, those most outlets carry first, each in its most central "
            "sentences as the articles write them."
        )
    )
    periods = [*BRIEF_PERIODS, *([FILTER_DATES] if filters.since or filters.until else [])]
    # The labels are the options (a format_func's labels do not survive Streamlit's AppTest).
    labels = [tr(p) for p in periods]
    shown = st.radio(tr("Period"), labels, index=1, horizontal=True, key="brief_period")
    picked = periods[labels.index(shown)] if shown in labels else periods[1]
    topic = st.text_input(tr("Topic (optional): a question or a subject"), key="brief_topic")
    now = datetime.now(UTC)
    if picked == FILTER_DATES:
        since, until = filters.since or now - BRIEF_PERIODS["Last 30 days"], filters.until or now
    else:
        since, until = now - BRIEF_PERIODS[picked], now
    briefing = kb.brief(
        since=since,
        until=until,
        topic=topic.strip()[:MAX_TOPIC_CHARS] or None,
        feeds=filters.feeds,
        languages=filters.languages,
        language=page_language(),
    )
    if not briefing.items:
        st.info(tr("No stories in this period."))
    else:
        show_briefing_body(briefing, since, until)
    with st.expander(tr("Send this briefing on a schedule")):
        show_schedule_form(kb, topic.strip()[:MAX_TOPIC_CHARS])


def show_briefing_body(briefing: Briefing, since: datetime, until: datetime) -> None:
    """The briefing's cards and its downloads."""
    st.html(briefing_html(briefing))
    stamp = f"{since:%Y%m%d}-{until:%Y%m%d}"
    columns = st.columns(3)
    for column, (label, fmt, kind, ending) in zip(
        columns,
        [
            ("Download (Markdown)", "markdown", "text/markdown", "md"),
            ("Download (HTML, for email)", "html", "text/html", "html"),
            ("Download (Atom feed)", "atom", "application/atom+xml", "xml"),
        ],
        strict=True,
    ):
        column.download_button(
            tr(label),
            render_briefing(briefing, fmt),
            file_name=f"briefing-{stamp}.{ending}",
            mime=kind,
            key=f"brief_{fmt}",
        )


def show_story(kb: KnowledgeBase, story_id: str) -> None:
    """One story, opened from a citation's link, with a button to close it."""
    story = kb.story(story_id)
    if story is None:
        st.info(tr("That story is no longer in the knowledge base."))
    else:
        st.subheader(tr("Stories"))
        st.html(story_html(story))
    if st.button(tr("Close"), key="story_close"):
        st.session_state.pop("story_view", None)
        st.rerun()
    st.divider()


def show_more() -> None:
    """Callback: list another page of latest articles."""
    st.session_state["latest_limit"] += LATEST_PAGE


def with_selected(options: Iterable[str], key: str) -> list[str]:
    """The facet's options plus whatever is selected (a shared link may name a feed this index
    does not hold; it stays selected rather than silently widening the search)."""
    return list(dict.fromkeys([*options, *st.session_state.get(key, [])]))


def clear_filters() -> None:
    """Callback: reset every filter."""
    for key in FILTER_KEYS:
        st.session_state[key] = None if key in ("since", "until") else []


def choose_view(facets: Facets, question: str) -> View:
    """The sidebar filters (choices from kb.facets()) around question, as a View."""
    st.header(tr("Filters"))
    span = tr(
        "Articles run from {first} to {last}.",
        first=format_date(facets.first),
        last=format_date(facets.last),
    )
    bounds = {"min_value": EARLIEST, "max_value": LATEST, "format": "YYYY-MM-DD"}
    since = st.date_input(tr("From"), value=None, key="since", help=span, **bounds)
    until = st.date_input(tr("To"), value=None, key="until", **bounds)
    choose = partial(st.multiselect, placeholder=tr("All"))
    view = View(
        question=question,
        feeds=tuple(choose(tr("Feeds"), with_selected(facets.feeds, "feeds"), key="feeds")),
        tags=tuple(choose(tr("Tags"), with_selected(facets.categories, "tags"), key="tags")),
        languages=tuple(
            choose(
                tr("Languages"),
                with_selected(facets.languages, "languages"),
                key="languages",
                format_func=language_name,
            )
        ),
        since=since,
        until=until,
    )
    if since and until and since > until:
        st.warning(tr("“From” is after “To”: no article can match."))
    st.button(
        tr("Clear filters"),
        key="clear_filters",
        on_click=clear_filters,
        disabled=not view.filters(),
    )
    return view


def show_status(stats: Stats) -> None:
    """The index summary: sizes, last refresh and the feeds that failed last time."""
    st.header(tr("Index"))
    for column, (label, value) in zip(
        st.columns(3),
        (
            (tr("Articles"), stats.articles),
            (tr("Passages"), stats.passages),
            (tr("Feeds"), stats.feeds),
        ),
        strict=True,
    ):
        column.metric(label, f"{value:,}")
    st.caption(tr("Last refresh: {when}", when=format_refresh(stats.last_refresh)))
    if stats.failed_feeds:
        with st.expander(tr("{n} feed(s) failed", n=len(stats.failed_feeds)), expanded=True):
            st.html(failed_feeds_html(stats))


def show_live_status(kb: KnowledgeBase) -> None:
    """Fragment, rerun every LIVE_EVERY s: the index status, so a refresh another process
    makes shows without a click; it also reopens the store after such a refresh (catch_up),
    so a question asked next does not wait for that."""
    kb.catch_up()
    show_status(kb.stats())
    st.caption(refresh_caption(kb.refresh_status()))


def refresh_caption(status: RefreshStatus) -> str:
    """Whether a watcher keeps the index fresh, and when it next refreshes."""
    if status.watcher_running:
        return tr(
            "A watcher (pid {pid}) keeps it fresh; next refresh: {when}",
            pid=status.watcher_pid,
            when=format_refresh(status.next_refresh),
        )
    return tr("No watcher running (python scripts/ingest.py --watch keeps it fresh).")


def show_refresh(kb: KnowledgeBase, job: RefreshJob) -> None:
    """The "Refresh now" button, the running refresh's progress, then this session's result."""
    clicked = st.button(tr("Refresh now"), disabled=job.running, type="primary")
    if clicked:
        run = job.start(kb)
        if run is None:
            st.info(tr("A refresh is already running; its progress is shown below."))
        else:
            st.session_state["refresh_run"] = run
    if job.running:
        st.fragment(refresh_progress, run_every=1.0)(job)
    elif st.session_state.get("refresh_run") == job.runs:
        show_refresh_result(job)


def refresh_progress(job: RefreshJob) -> None:
    """Fragment, rerun every second while a refresh runs; reruns the page when it is done."""
    if not job.running:
        st.rerun()  # the whole page: new stats, facets and latest articles
    fraction, text = progress_of(job.stage, job.done, job.total)
    st.progress(fraction, text=text)


def show_refresh_result(job: RefreshJob) -> None:
    """The refresh's outcome: a warning if it could not run, each failed feed, the summary."""
    if job.error:
        st.warning(escape_markdown(job.error))
    report = job.report
    if report is None:
        return
    st.success(
        tr(
            "Refreshed: {new} new, {updated} updated, {ok} of {total} feeds read.",
            new=report.new,
            updated=report.updated,
            ok=report.feeds_ok,
            total=len(report.feeds),
        )
    )
    for feed in report.feeds:
        if not feed.ok:
            st.error(escape_markdown(f"{feed.title or feed.source}: {feed.error}"))
    with st.expander(tr("Refresh report")):
        st.code(report.summary(), language=None)


def feed_key(url: str) -> str:
    """A stable widget key for a feed's remove button."""
    return "remove-" + hashlib.sha256(url.encode()).hexdigest()[:16]


def remove_feed(kb: KnowledgeBase, url: str) -> None:
    """Callback: drop url from the feed list, noting the outcome for the next run."""
    try:
        kb.remove_feed(url)
        st.session_state["feed_notice"] = ("success", tr("Removed {url}", url=url))
    except KBError as exc:
        st.session_state["feed_notice"] = ("error", str(exc))


def add_feed(kb: KnowledgeBase, url: str) -> None:
    """Validate url by reading it, then add it to the feed list; a clear error otherwise."""
    if not url.strip():
        st.session_state["feed_notice"] = ("error", tr("Enter a feed URL first."))
        return
    try:
        with st.spinner(tr("Reading the feed…")):
            title = kb.add_feed(url.strip())
    except KBError as exc:  # FeedError, ConfigError, FetchError...: all say what went wrong
        st.session_state["feed_notice"] = (
            "error",
            tr("Could not add {url}: {error}", url=url.strip(), error=exc),
        )
    else:
        st.session_state["feed_notice"] = ("success", tr("Added {title}", title=title))


def show_feed_notice() -> None:
    """The last feed-list change's outcome, shown once."""
    kind, text = st.session_state.pop("feed_notice", (None, ""))
    if kind == "error":
        st.error(escape_markdown(text))
    elif kind == "success":
        st.success(escape_markdown(text))


def show_feeds(kb: KnowledgeBase) -> None:
    """The feed list a refresh reads, each with a remove button, and a box to add one."""
    with st.expander(tr("Manage feeds")):
        listing = st.container()
        with st.form("add_feed", border=False):
            url = st.text_input(
                tr("Add a feed"), placeholder="https://example.com/feed/", key="new_feed"
            )
            if st.form_submit_button(tr("Add feed")):
                add_feed(kb, url)
        show_feed_notice()
        with listing:
            for feed in kb.feeds():
                text, button = st.columns([5, 1], vertical_alignment="center")
                text.html(f'<div class="kb-feed">{html.escape(feed)}</div>')
                button.button(
                    "✕",
                    key=feed_key(feed),
                    help=tr("Remove this feed"),
                    on_click=remove_feed,
                    args=(kb, feed),
                )


def show_empty_state(settings: Settings) -> None:
    """What to do when nothing has been ingested yet."""
    st.info(tr("The knowledge base is empty: no articles have been ingested yet."))
    st.markdown(
        tr(
            "Press **Refresh now** in the sidebar to read the feeds listed under **Manage "
            "feeds**, or read them from a terminal, then reload this page:"
        )
    )
    st.code("python scripts/ingest.py", language="bash")
    st.markdown(tr("The README explains how to choose your own feeds and keep the index fresh."))
    st.caption(tr("This page reads the index directory below (set KB_INDEX_DIR to change it)."))
    st.code(str(settings.index_dir.resolve()), language=None)


def explore(kb: KnowledgeBase, filters_box: DeltaGenerator) -> None:
    """The question box and filters; an answer for a question, else the latest articles."""
    question = st.text_input(
        tr("Ask a question"), placeholder=tr("What does IMMEX stand for?"), key="question"
    )
    with filters_box:
        view = choose_view(kb.facets(), question)
    sync_url(view)
    watch_id = st.session_state.get("watch_view")
    watch = next((w for w in kb.watches() if w.watch_id == watch_id), None)
    if watch is not None:
        show_watch(kb, watch)
    story_id = st.session_state.get("story_view")
    if story_id:
        show_story(kb, story_id)
    if question.strip():
        show_question(kb, question, view.filters())
        return
    latest, stories, briefing = st.tabs([tr("Latest articles"), tr("Stories"), tr("Briefing")])
    with latest:
        show_latest(kb, view.filters())
    with stories:
        show_stories(kb, view.filters())
    with briefing:
        show_briefing(kb, view.filters())


def choose_language(settings: Settings) -> None:
    """The page's language for this run: the reader's pick in the sidebar (Auto by default),
    else KB_UI_LANGUAGE, else the browser's language."""
    picked = st.sidebar.selectbox(
        "Language / Idioma",
        list(PAGE_LANGUAGES),
        format_func=PAGE_LANGUAGES.__getitem__,
        key="page_language",
    )
    st.session_state["ui_language"] = picked or settings.ui_language or browser_language()


def main() -> None:
    """The page; a kb error becomes one clear message."""
    st.set_page_config(page_title="News knowledge base", page_icon="📰")
    st.html(STYLE)
    try:
        settings = Settings.from_env()
        choose_language(settings)
        st.title(tr("News knowledge base"))
        kb = load_kb(settings)
        job = refresh_job(str(settings.index_dir.resolve()))
        restore_from_url()
        filters_box = st.sidebar.container()
        stats = kb.stats()
        with st.sidebar:
            st.fragment(show_live_status, run_every=LIVE_EVERY)(kb)
            show_refresh(kb, job)
            show_feeds(kb)
            saved_box = st.container()
        if stats.articles:
            explore(kb, filters_box)
        else:
            show_empty_state(settings)
        with saved_box:  # after the page, so a question saved on this run is listed
            st.fragment(show_saved, run_every=LIVE_EVERY)(kb)
    except KBError as exc:
        st.error(escape_markdown(str(exc)))


if __name__ == "__main__":  # streamlit runs the page as __main__; tests import the helpers
    main()
