"""English word tables for the analyzer: function words, transition words, passive participles.

The lists are ours, written for plain English web copy; they follow the categories Yoast's English
researches use (function words, transition words and phrases, be/get auxiliaries and irregular participles).
"""

from __future__ import annotations


def table(text: str) -> frozenset[str]:
    """The whitespace-separated words of a table written as a block of text."""
    return frozenset(text.split())


# Words that carry no topic: they are skipped when a keyphrase is matched word by word, when Yoast-style
# keyphrase length is counted, and when a repeated phrase must contain at least one word with meaning.
FUNCTION_WORDS = table(
    """
    a about above after again against all almost also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either else even
    ever every few for from further had has have having he her here hers herself him himself his how i
    if in into is it its itself just least less let like many may me might mine more most much must my
    myself neither no nor not now of off often on once one only or other ought our ours ourselves out
    over own per quite rather really same shall she should since so some such than that the their theirs
    them themselves then there these they this those though through thus to too under until up upon us
    very vs was we were what when where whether which while who whom whose why will with within without
    would yet you your yours yourself yourselves get gets got getting make makes made use used using way
    ways thing things lot lots two three four five six seven eight nine ten first second third new good
    best better
    """
)

# Words that may open a sentence without making it "the same start" as the next one: with these, the
# first two words are compared ("The grinder ...", "The kettle ..." differ), as Yoast does for English.
SENTENCE_START_EXCEPTIONS = table(
    """
    a an the this that these those my your his her its our their one two three four five six seven eight
    nine ten
    """
)

TRANSITION_WORDS = table(
    """
    accordingly additionally afterward afterwards albeit also although altogether another because before
    besides but certainly consequently conversely correspondingly despite earlier equally especially
    eventually evidently finally first firstly following formerly further furthermore generally hence
    henceforth however indeed initially instead largely lastly later likewise meanwhile moreover namely
    naturally nevertheless next nonetheless notably notwithstanding obviously otherwise overall
    particularly previously rather regardless second secondly similarly simultaneously since so
    specifically still subsequently surely surprisingly then thereafter therefore third thirdly though
    thus typically ultimately undoubtedly unless unlike until usually whereas while yet
    """
)

# Multi-word transitions, matched as consecutive lowercase words.
TRANSITION_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(phrase.split())
    for phrase in (
        "above all",
        "after all",
        "after that",
        "all in all",
        "as a result",
        "as long as",
        "as soon as",
        "as well as",
        "at first",
        "at last",
        "at the same time",
        "before long",
        "by contrast",
        "by the way",
        "even if",
        "even so",
        "even though",
        "for example",
        "for instance",
        "for this reason",
        "from now on",
        "in addition",
        "in any case",
        "in contrast",
        "in fact",
        "in general",
        "in other words",
        "in particular",
        "in short",
        "in summary",
        "in the end",
        "in the meantime",
        "in turn",
        "of course",
        "on the contrary",
        "on the other hand",
        "on top of that",
        "so that",
        "such as",
        "that is why",
        "to begin with",
        "to sum up",
        "what is more",
    )
)

# Forms of "be" and "get" that build the English passive ("is ground", "got delivered").
PASSIVE_AUXILIARIES = table(
    """
    am is are was were be been being get gets got gotten getting isn't aren't wasn't weren't it's that's
    there's here's what's
    """
)

# Words that may stand between the auxiliary and the participle ("is not always ground").
PASSIVE_GAP_WORDS = table(
    """
    not never always often usually also still just already rarely seldom sometimes then now easily
    quickly slowly carefully finely coarsely widely commonly typically generally properly fully partly
    being
    """
)

# Words ending in -ed that are not participles, so "is red" or "was a hundred" are not passives.
NOT_PARTICIPLES = table(
    """
    bed bleed breed creed deed embed feed greed heed hundred naked need proceed red reed seed shed shred
    sled sacred speed steed succeed exceed weed wed wicked rugged ragged wretched beloved tired
    interested excited bored worried scared pleased surprised married supposed advanced detailed limited
    experienced skilled talented qualified crowded complicated sophisticated dedicated
    """
)

# Irregular English past participles (the regular ones end in -ed).
IRREGULAR_PARTICIPLES = table(
    """
    arisen awoken beaten become begun bent bet bid bitten bled blown broken brought built burnt burst
    bought cast caught chosen clung come cost crept cut dealt dug done drawn dreamt drunk driven eaten
    fallen fed felt fought found fled flung flown forbidden forgotten forgiven frozen given gone ground
    grown hung heard hidden hit held hurt kept knelt known laid led leant leapt learnt left lent lain
    lit lost made meant met paid put quit read ridden rung risen run said seen sought sold sent set sewn
    shaken shone shot shown shrunk shut sung sunk sat slept slid slung spoken spent spilt spun spat
    split spread sprung stood stolen stuck stung stunk struck strung sworn swept swum swung taken taught
    torn told thought thrown understood undertaken woken worn woven wept won wound written withdrawn
    """
)

# What stands in for a surplus question-like keyphrase ("how to ...") when a stuffed text is thinned out.
PRONOUN = "this"
