"""The fix plan: an instruction per failing check for the SEO stage's model, and deterministic offline fixes.

A fix targets one check and changes only what that check needs. ``apply_offline_fix`` re-runs the check on
its result and keeps the original when the check did not pass before and would score lower after, so a fix
never makes its own check worse; a check that passes, or has no deterministic fix, leaves the input as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import meta, phrasing, rewrite
from .checks import run_checks
from .keyphrase import quote
from .keyphrase_checks import recommended_counts
from .report import context_for
from .text import parse
from .verdict import Verdict

FIX_ORDER: tuple[str, ...] = (
    "single_h1",
    "keyphrase_in_h1",
    "subheading_distribution",
    "paragraph_length",
    "sentence_length",
    "flesch_reading_ease",
    "repeated_phrases",
    "keyphrase_density",
    "keyphrase_in_introduction",
    "keyphrase_in_subheadings",
    "consecutive_sentences",
    "passive_voice",
    "transition_words",
    "text_length",
    "image_alt",
    "outbound_links",
    "internal_links",
    "keyphrase_in_meta_title",
    "meta_title_length",
    "meta_description_duplicates",
    "keyphrase_in_meta_description",
    "meta_description_length",
    "keyphrase_length",
)
"""The order to apply fixes in: structure first (headings, then splits), so that the sentence-level fixes
see the final blocks; repetition and stuffing are cut before the keyphrase is added where it is missing, so
the additions survive; the meta fields, which the body never changes, come last."""

_ONLY = "Change only what this fix needs and keep every other sentence, heading, link and citation as it is."

_ACTIONS: dict[str, str] = {
    "keyphrase_in_introduction": (
        "Rewrite the first paragraph so that its first sentence contains the exact phrase {kp}."
    ),
    "keyphrase_in_meta_title": (
        "Rewrite the meta title so that it begins with the exact phrase {kp}, in 60 characters or fewer."
    ),
    "keyphrase_in_meta_description": (
        "Rewrite the meta description so that it uses the exact phrase {kp} once or twice."
    ),
    "keyphrase_in_h1": "Rewrite the H1 title so that it contains the exact phrase {kp}.",
    "keyphrase_in_subheadings": (
        "Reword H2 and H3 subheadings so that 30 to 75% of them contain {kp} or a synonym."
    ),
    "keyphrase_density": (
        "Change how often {kp} appears until it makes up 0.5 to 3% of the words, rewording sentences "
        "rather than adding or cutting paragraphs."
    ),
    "keyphrase_length": (
        "Leave the article as it is, since only the person who set the keyphrase {kp} can shorten it."
    ),
    "meta_title_length": "Rewrite the meta title in 30 to 60 characters, keeping {kp} at its start.",
    "meta_description_length": "Rewrite the meta description in 121 to 156 characters, keeping {kp} in it.",
    "meta_description_duplicates": (
        "Rewrite the meta description so that no phrase of three or more words appears twice and {kp} "
        "appears at most twice."
    ),
    "text_length": (
        "Bring the article to the target length by adding or trimming detail inside the existing sections."
    ),
    "outbound_links": (
        "Add [n] citation markers after the claims that rest on the numbered sources, using only the "
        "sources given."
    ),
    "internal_links": (
        "Add one relative link, such as /guides/name, to a related page of this site where it helps the "
        "reader."
    ),
    "image_alt": (
        "Give every image a short alt text that describes it, and use {kp} in the alt text of one image "
        "where it fits."
    ),
    "single_h1": "Keep the first H1 as the title and turn every other H1 into an H2.",
    "subheading_distribution": (
        "Add a descriptive H2 or H3 subheading at least every 300 words, at a change of topic."
    ),
    "sentence_length": (
        "Split sentences of more than 20 words into shorter ones until at most a quarter of the sentences"
        " are that long."
    ),
    "paragraph_length": (
        "Split every paragraph of more than 150 words into two or three paragraphs at a change of idea."
    ),
    "passive_voice": (
        "Rewrite passive sentences in the active voice, naming who does what, until at most 10% remain "
        "passive."
    ),
    "transition_words": (
        "Link sentences with transition words such as however, for example, as a result or because until "
        "at least 30% of the sentences contain one."
    ),
    "consecutive_sentences": (
        "Reword the opening of sentences so that no three sentences in a row begin with the same word."
    ),
    "flesch_reading_ease": (
        "Use shorter sentences and plainer, shorter words until the text reads easily (Flesch reading "
        "ease of 60 or more)."
    ),
    "repeated_phrases": (
        "Reword or remove the repeated phrase so that it appears at most twice, and drop sentences that "
        "only restate others."
    ),
}


def instruction(verdict: Verdict, *, keyphrase: str) -> str:
    """One imperative instruction for a model to fix the verdict's check; empty for a passing verdict."""
    if verdict.status == "good" or verdict.id not in _ACTIONS:
        return ""
    action = _ACTIONS[verdict.id].format(kp=quote(keyphrase, 60))
    return f"{verdict.message} {action} {_ONLY}"


Fixer = Callable[[str, str, str, str], tuple[str, str, str]]


def _body(change: Callable[[str, str], str]) -> Fixer:
    return lambda content, title, description, keyphrase: (change(content, keyphrase), title, description)


def _title(change: Callable[[str, str, str], str]) -> Fixer:
    return lambda content, title, description, keyphrase: (
        content,
        change(title, keyphrase, content),
        description,
    )


def _description(change: Callable[[str, str, str], str]) -> Fixer:
    return lambda content, title, description, keyphrase: (
        content,
        title,
        change(description, keyphrase, content),
    )


def _thin(content: str, keyphrase: str) -> str:
    """Keyphrase uses cut to 1.5% of the words, within Yoast's recommended count."""
    words = parse(content).word_count
    low, high = recommended_counts(words)
    return phrasing.thin_keyphrase(content, keyphrase, max(low, min(high, math.floor(1.5 * words / 100))))


_FIXERS: dict[str, Fixer] = {
    "single_h1": _body(lambda content, _: rewrite.drop_extra_h1(content)),
    "keyphrase_in_h1": _body(rewrite.keyphrase_in_title),
    "subheading_distribution": _body(lambda content, _: rewrite.add_subheadings(content)),
    "paragraph_length": _body(lambda content, _: rewrite.split_long_paragraphs(content)),
    "sentence_length": _body(lambda content, _: phrasing.split_long_sentences(content)),
    "flesch_reading_ease": _body(lambda content, _: phrasing.split_long_sentences(content)),
    "repeated_phrases": _body(phrasing.remove_repeated_phrase),
    "keyphrase_density": _body(_thin),
    "keyphrase_in_introduction": _body(rewrite.open_with_keyphrase),
    "keyphrase_in_subheadings": _body(rewrite.keyphrase_in_subheadings),
    "consecutive_sentences": _body(lambda content, _: phrasing.vary_openings(content)),
    "image_alt": _body(rewrite.describe_images),
    "keyphrase_in_meta_title": _title(
        lambda title, keyphrase, _: meta.title_with_keyphrase_first(title, keyphrase)
    ),
    "meta_title_length": _title(meta.title_within_limit),
    "meta_description_duplicates": _description(meta.fit_description),
    "keyphrase_in_meta_description": _description(meta.description_with_keyphrase),
    "meta_description_length": _description(meta.fit_description),
}
# The checks ``apply_offline_fix`` can change; the others need a writer (passive voice, transitions, length).
OFFLINE_FIXABLE: frozenset[str] = frozenset(_FIXERS)


def _verdict(
    check_id: str, content: str, meta_title: str, meta_description: str, keyphrase: str
) -> Verdict | None:
    ctx = context_for(
        content=content, meta_title=meta_title, meta_description=meta_description, keyphrase=keyphrase
    )
    found = run_checks(ctx, only=check_id)
    return found[0] if found else None


def apply_offline_fix(
    check_id: str, *, content: str, meta_title: str, meta_description: str, keyphrase: str
) -> tuple[str, str, str]:
    """(content, meta_title, meta_description) with the one check fixed where a deterministic rewrite can."""
    original = (content, meta_title, meta_description)
    fixer = _FIXERS.get(check_id)
    if fixer is None:
        return original
    before = _verdict(check_id, *original, keyphrase)
    if before is None or before.status == "good":
        return original
    fixed = fixer(content, meta_title, meta_description, keyphrase)
    after = _verdict(check_id, *fixed, keyphrase)
    if after is None or after.score < before.score:
        return original
    return fixed
