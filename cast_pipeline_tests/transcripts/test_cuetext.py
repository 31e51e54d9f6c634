"""Specification of cue text cleaning (tags, entities, voices) and the ``Name:`` speaker-prefix rule."""

from __future__ import annotations

import pytest

from cast_pipeline.transcripts.cuetext import split_speaker_prefix, strip_markup, voice_spans


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<c.yellow>Hello</c> <i>there</i> <b>you</b> <u>all</u>", "Hello there you all"),
        ("Never <00:00:18.400>drink <00:00:18.900>liquid nitrogen.", "Never drink liquid nitrogen."),
        ('<font color="#ffff00">Coloured</font> text', "Coloured text"),
        ("Q&amp;A &lt;i&gt; stays &quot;literal&quot;&nbsp;here", 'Q&A <i> stays "literal" here'),
        ("line one\nline two\r\n  line three", "line one line two line three"),
        ("first<br>second<br/>third<BR />fourth", "first second third fourth"),
        ("{\\an8}Top of the screen", "Top of the screen"),
        ("<lang en-GB>colour</lang>", "colour"),
        ("a < b and c > d", "a < b and c > d"),  # comparison signs are not tags
        ("I <3 podcasts", "I <3 podcasts"),
    ],
)
def test_markup_is_removed_and_entities_decoded(raw: str, clean: str) -> None:
    assert strip_markup(raw) == clean


def test_a_voice_tag_gives_the_speaker() -> None:
    assert voice_spans("<v Sarah>In today's episode</v>") == [("Sarah", "In today's episode")]


def test_voice_classes_and_multi_word_names_are_understood() -> None:
    assert voice_spans("<v.loud.first Dr. Jane Doe>Hi!") == [("Dr. Jane Doe", "Hi!")]
    assert voice_spans("<V Tom>Upper-case tag") == [("Tom", "Upper-case tag")]


def test_two_voices_in_one_cue_give_two_parts_in_order() -> None:
    raw = "<v Roger>Hi, Esme!</v>\n<v Esme>Hi, Roger.</v>"
    assert voice_spans(raw) == [("Roger", "Hi, Esme!"), ("Esme", "Hi, Roger.")]


def test_text_before_the_first_voice_has_no_speaker() -> None:
    assert voice_spans("(laughs) <v Kim>Sure.") == [(None, "(laughs)"), ("Kim", "Sure.")]


def test_a_voice_with_empty_text_is_kept_so_the_speaker_can_carry_on() -> None:
    assert voice_spans("<v Kim></v>") == [("Kim", "")]
    assert voice_spans("<v>anonymous") == [(None, "anonymous")]


def test_entities_in_voice_names_are_decoded() -> None:
    assert voice_spans("<v Tom &amp; Jerry>Both of us.") == [("Tom & Jerry", "Both of us.")]


@pytest.mark.parametrize(
    ("text", "speaker", "rest"),
    [
        ("Sarah: In today's episode,", "Sarah", "In today's episode,"),
        ("Dr. Jane O'Neil: Welcome.", "Dr. Jane O'Neil", "Welcome."),
        ("Mary-Jane: Hi", "Mary-Jane", "Hi"),
        ("Speaker 1: Hello", "Speaker 1", "Hello"),
        ("Alban : spaced colon", "Alban", "spaced colon"),  # as in the namespace's HTML example
        ("JOHN: shouting", "JOHN", "shouting"),
        ("José: hola", "José", "hola"),
        ("Kevin:", "Kevin", ""),  # name alone: a speaker change with no words yet
    ],
)
def test_a_short_capitalised_name_prefix_is_a_speaker(text: str, speaker: str, rest: str) -> None:
    assert split_speaker_prefix(text) == (speaker, rest)


@pytest.mark.parametrize(
    "text",
    [
        "Note: this episode was recorded remotely.",
        "NOTE: upper-case label",
        "Warning: explicit language.",
        "Update: we fixed the link.",
        "Step 1: open the app.",
        "Pro Tip: use a pop filter.",
        "The problem: nobody listens.",
        "But here's the thing: it works.",
        "Q: What is RSS?",  # single letters are interview markers, not names
        "at 10:30 we started",
        "10:30: too early",
        "Visit https://example.com now",
        "Ludwig van Beethoven: lower-case particle",  # rule fails safely: the text keeps the prefix
        "this is lower case: not a name",
        "Five Capitalised Words Are Here: too many",
        "An Extremely Longwinded Speakername: too long",
        "Sarah:no space after the colon",
    ],
)
def test_sentences_and_labels_with_a_colon_keep_their_text(text: str) -> None:
    assert split_speaker_prefix(text) == (None, text)
