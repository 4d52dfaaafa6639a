"""Figures that reports of one story disagree on (kb.stories.figures): what a figure is, when two
sentences give one thing different numbers, and the look-alikes that are no disagreement."""

from __future__ import annotations

from datetime import UTC, datetime

from kb.stories.figures import differing, figures_of

WHEN = datetime(2026, 3, 2, tzinfo=UTC)


def other(text: str, feed: str = "Herald", language: str = "en") -> tuple:
    return (feed, f"https://{feed.lower()}.example/a", "A title", WHEN, language, text)


def test_a_figure_is_a_number_and_what_it_counts() -> None:
    found = figures_of("Customs seized three confirmed shipments and 1,200 tonnes on March 4.")
    assert [(f.value, f.written) for f in found] == [
        ("3", "three"),
        ("1200", "1,200"),
        ("4", "March 4"),
    ]
    assert found[0].counts == {"confirm", "shipment"}
    assert found[2].counts == {"@march"}
    # A year, and a number joined to a word, name a time or a kind of thing: no figure.
    assert figures_of("In 2025 the 40-foot boxes and the 4K cameras arrived.") == []
    assert [f.value for f in figures_of("Sales rose 12% in the quarter.")] == ["12"]
    assert [f.value for f in figures_of("The plant will cost 2.5 billion dollars.")] == [
        "2.5ebillion"
    ]
    spanish = figures_of("La aduana revisó 35 contenedores el 4 de marzo.", "es")
    assert [(f.value, sorted(f.counts)) for f in spanish] == [
        ("35", ["contenedor"]),
        ("4", ["@marzo"]),
    ]


def test_near_numbers_for_the_same_thing_are_a_disagreement() -> None:
    cited = "The strike at the Lázaro Cárdenas terminal left 300 trucks waiting at the gates."
    found = differing(
        cited,
        "en",
        [
            other("Trucks queued for hours. Some 250 trucks were waiting at the terminal gates."),
            other("The port of Veracruz had a quiet week.", feed="Gazette"),
        ],
    )
    assert len(found) == 1
    assert found[0].feed == "Herald"
    assert (found[0].figure, found[0].instead_of) == ("250", "300")
    assert found[0].sentence == "Some 250 trucks were waiting at the terminal gates."
    assert found[0].published == WHEN


def test_spanish_reports_disagree_on_a_day() -> None:
    cited = "La nueva aduana de Nuevo Laredo abrirá el 15 de marzo, dijo la agencia."
    found = differing(
        cited,
        "es",
        [
            other(
                "La agencia dijo que la aduana de Nuevo Laredo abrirá el 18 de marzo.",
                language="es",
            )
        ],
    )
    assert [(d.figure, d.instead_of) for d in found] == [("18", "15")]


def test_figures_that_count_different_things_or_add_up_are_no_disagreement() -> None:
    cited = "The terminal added five cranes this year, the operator said."
    look_alikes = [
        # Numbers far apart count different things (all the cranes, not the new ones).
        other("The terminal now runs 24 cranes, the operator said."),
        # It gives the cited number too: it adds a figure.
        other("With the five cranes added this year the operator said it runs seven cranes."),
        # Counting one thing twice adds up ("four join the six").
        other("The operator said the four cranes this year join six older cranes."),
        # The same number: agreement.
        other("Five new cranes arrived at the terminal this year, the operator said."),
        # Another thing counted (trucks, not cranes).
        other("The terminal said six trucks this year were added by the operator."),
        # A kind of thing, not a count ("six-lane").
        other("The operator said the terminal added a six-lane road this year."),
    ]
    assert differing(cited, "en", look_alikes) == []


def test_a_sentence_without_figures_or_sharing_too_little_is_not_read_for_them() -> None:
    assert differing("The port reopened after the storm.", "en", [other("It took 3 days.")]) == []
    # Same count, too little else in common.
    cited = "Mexico exported 40 tonnes of avocados to Japan in January."
    assert differing(cited, "en", [other("A fire destroyed 45 tonnes of cargo in Houston.")]) == []
