"""The checks, in report order, and the thresholds they apply.

Each check scores 0-9 as Yoast scores its assessments (8-9 good, 5-7 ok, 0-4 problem; see ``verdict``).
A check that does not apply (no images, no sources, no keyphrase) is left out of the report.

=============================  ==========================================================  ==========
check                          good / ok / problem                                         source
=============================  ==========================================================  ==========
keyphrase_in_introduction      keyphrase in one sentence of the first paragraph / a        Yoast [1]
                               synonym, or its words spread over sentences / absent
keyphrase_in_meta_title        title begins with the exact keyphrase (leading function     Yoast [1]
                               words aside) / elsewhere, or not exact / absent
keyphrase_in_meta_description  in 1-2 sentences (or a synonym) / - / absent, or in more    Yoast [1]
                               than 2
keyphrase_in_h1                the first H1 has it / a synonym / absent, or no H1          house rule
keyphrase_in_subheadings       30-75% of H2/H3 reflect it (or the only one does; none      Yoast [1][3]
                               needed up to 300 words) / - / under 30% or over 75%
keyphrase_density              0.5-3% of the words (or 2 uses where 2 suffice) / - /       Yoast [1][2]
                               under 0.5%; over 3% (score 1) and over 4% (score 0) are
                               stuffing; under 100 words 1 use (2 from 51 words) is right
keyphrase_length               1-4 content words / 5-8 / more than 8                       Yoast [1]
meta_title_length              30-60 characters / under 30 / over 60 or empty; characters  Yoast [1],
                               stand for Yoast's 600 px (about 60 characters of a results  Rank Math
                               page's 20 px Arial); Rank Math says 50-60 characters        [6]
meta_description_length        121-156 characters / 120 or fewer, or 157 or more / empty   Yoast [1]
meta_description_duplicates    no 3-word run (with a content word) twice and the keyphrase house rule
                               at most twice / - / either repeated
text_length                    with a target: within 15% / within 30% / further (score 1   house rule,
                               past 50%); without: 300+ words / 250-299 / fewer            Yoast [1],
                                                                                           Rank Math [5]
outbound_links                 min(sources, 3) distinct [n] citations or http(s) links in  Yoast [1],
                               the prose / some, or only a Sources list / none             adapted
internal_links                 a relative link in the prose / - / none                     Yoast [1]
image_alt                      every image has alt text and one reflects the keyphrase     Yoast [1]
                               (30-75% from 5 images) / none, or over 75%, reflect it /
                               an image without alt text
single_h1                      at most one H1 / - / two or more                            Yoast [1]
subheading_distribution        no run over 300 words without a subheading (none needed up  Yoast [4]
                               to 300 words) / a run of 301-350 / a run over 350, or over
                               300 words and no subheading at all
sentence_length                at most 25% of sentences over 20 words / 25-30% / more      Yoast [4]
paragraph_length               no paragraph over 150 words / 151-200 / over 200            Yoast [4]
passive_voice                  at most 10% of sentences passive / 10-15% / more            Yoast [4]
transition_words               at least 30% of sentences (any share under 200 words) /     Yoast [4]
                               20-30% / under 20%
consecutive_sentences          no 3 sentences in a row of a paragraph with one opening /   Yoast [4]
                               - / 3 or more
flesch_reading_ease            60 and above / 50-60 / under 50 (textstat, clamped 0-100)   Yoast [7]
repeated_phrases               no 4-word phrase with a word beyond the keyphrase's as      house rule
                               often as max(3, words / 250) / one short of that, and 3+ /
                               that often
=============================  ==========================================================  ==========

[1] https://github.com/Yoast/wordpress-seo/blob/trunk/packages/yoastseo/src/scoring/assessments/
    scoringDocumentation/SCORING%20SEO.md
[2] https://yoast.com/wordpress/plugins/seo/keyphrase-density-check/ ("between 0.5 and 3%")
[3] https://yoast.com/wordpress/plugins/seo/keyphrase-in-subheading-check/ ("30 to 75% of your subheadings")
[4] https://github.com/Yoast/wordpress-seo/blob/trunk/packages/yoastseo/src/scoring/assessments/
    scoringDocumentation/SCORING%20READABILITY.md
[5] Rank Math's content-length test (rankmath/seo-by-rank-math, ``LengthContent``; https://rankmath.com/kb/
    score-100-in-tests/) fails a post under 600 words and gives full marks from 2,500. A target, when given,
    replaces both, as the article is written to the length that was asked for.
[6] https://rankmath.com/tools/meta-tag-analyzer/ ("50-60 characters and 580 pixels")
[7] Yoast ``fleschReadingEaseAssessment.js``: 60 and above scores 9, 50 to 60 scores 6, below 50 scores 3.
"""

from __future__ import annotations

from . import keyphrase_checks as kc
from . import readability_checks as rc
from . import structure_checks as sc
from .context import Check, Context
from .verdict import Verdict, status_of

CHECKS: tuple[Check, ...] = (
    Check("keyphrase_in_introduction", "seo", kc.keyphrase_in_introduction, "Keyphrase in the introduction"),
    Check("keyphrase_in_meta_title", "seo", kc.keyphrase_in_meta_title, "Keyphrase in the meta title"),
    Check(
        "keyphrase_in_meta_description",
        "seo",
        kc.keyphrase_in_meta_description,
        "Keyphrase in the meta description",
    ),
    Check("keyphrase_in_h1", "seo", kc.keyphrase_in_h1, "Keyphrase in the H1 title"),
    Check("keyphrase_in_subheadings", "seo", kc.keyphrase_in_subheadings, "Keyphrase in subheadings"),
    Check("keyphrase_density", "seo", kc.keyphrase_density, "Keyphrase density"),
    Check("keyphrase_length", "seo", kc.keyphrase_length, "Keyphrase length"),
    Check("meta_title_length", "seo", sc.meta_title_length, "Meta title length"),
    Check("meta_description_length", "seo", sc.meta_description_length, "Meta description length"),
    Check(
        "meta_description_duplicates",
        "seo",
        sc.meta_description_duplicates,
        "Repetition in the meta description",
    ),
    Check("text_length", "seo", sc.text_length, "Text length"),
    Check("outbound_links", "seo", sc.outbound_links, "Outbound links"),
    Check("internal_links", "seo", sc.internal_links, "Internal links"),
    Check("image_alt", "seo", sc.image_alt, "Image alt text"),
    Check("single_h1", "seo", sc.single_h1, "Single H1 title"),
    Check("subheading_distribution", "seo", sc.subheading_distribution, "Subheading distribution"),
    Check("sentence_length", "readability", rc.sentence_length, "Sentence length"),
    Check("paragraph_length", "readability", rc.paragraph_length, "Paragraph length"),
    Check("passive_voice", "readability", rc.passive_voice, "Passive voice"),
    Check("transition_words", "readability", rc.transition_words, "Transition words"),
    Check("consecutive_sentences", "readability", rc.consecutive_sentences, "Consecutive sentences"),
    Check("flesch_reading_ease", "readability", rc.flesch_reading_ease, "Flesch reading ease"),
    Check("repeated_phrases", "readability", rc.repeated_phrases, "Repeated phrases"),
)

CHECK_IDS = tuple(check.id for check in CHECKS)
# What people read for each check: the job page's lists, the CLI and the SEO stage's progress messages.
LABELS: dict[str, str] = {check.id: check.label for check in CHECKS}


def run_checks(ctx: Context, only: str | None = None) -> list[Verdict]:
    """The verdicts of every check that applies (or of the one named ``only``), in ``CHECKS`` order."""
    verdicts = []
    for check in CHECKS:
        if only is not None and check.id != only:
            continue
        finding = check.run(ctx)
        if finding is None:
            continue
        score = max(0, min(9, finding.score))
        verdicts.append(Verdict(check.id, check.group, status_of(score), score, finding.message))
    return verdicts
