"""Deterministic text for the offline model: research briefs, articles and SEO metadata."""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, deque
from dataclasses import dataclass

from .contracts import JobInput
from .scoring import clip_meta_description, clip_meta_title

ASPECTS = (
    "planning",
    "timing",
    "budget",
    "consistency",
    "the right tools",
    "small daily habits",
    "feedback",
    "space",
    "preparation",
    "maintenance",
    "safety",
    "measurement",
    "motivation",
    "routine",
    "quality",
)
BENEFITS = (
    "saves time",
    "cuts costs",
    "reduces waste",
    "builds confidence",
    "makes results more predictable",
    "keeps things simple",
    "avoids frustration",
    "improves the end result",
    "scales as you grow",
    "is easy to explain to others",
)
AUDIENCES = (
    "beginners",
    "busy professionals",
    "families",
    "small teams",
    "students",
    "first-timers",
    "hobbyists",
    "people on a tight budget",
    "experienced practitioners",
    "renters short on space",
)
MISTAKES = (
    "skipping the preparation",
    "buying too much too soon",
    "ignoring feedback",
    "copying someone else's setup",
    "doing everything at once",
    "giving up after one bad week",
    "chasing perfection",
    "forgetting to measure",
    "overcomplicating the routine",
    "neglecting maintenance",
)
ACTIONS = (
    "write down a simple goal",
    "set aside ten minutes a day",
    "start with one small change",
    "keep a short log",
    "ask someone with experience",
    "review progress every week",
    "test one variable at a time",
    "choose one reliable resource",
    "set a realistic budget",
    "plan the first month",
)
TIMES = (
    "in the first week",
    "after a month",
    "over a season",
    "within a few days",
    "by the end of the year",
    "once the routine settles",
)

PLAIN_SENTENCES = (
    "Most people find that {aspect} matters more than they expected.",
    "A good rule of thumb is to {action} before anything else.",
    "Paying attention to {aspect} {benefit}.",
    "One common mistake is {mistake}, which usually shows up {time}.",
    "For {audience}, the easiest win is to {action}.",
    "If you {action}, you will notice the difference {time}.",
    "{Aspect} is rarely glamorous, but it {benefit}.",
    "The trick is to treat {aspect} as a habit rather than a project.",
    "Even a modest focus on {aspect} {benefit}.",
    "Avoid {mistake}; it is the fastest way to stall.",
    "It helps to {action} and adjust {time}.",
    "When in doubt, {action}.",
    "Think of {aspect} as the foundation everything else rests on.",
    "Small improvements in {aspect} add up {time}.",
    "Keeping {aspect} in view {benefit}.",
    "Nobody gets this perfect on day one, and that is fine.",
    "{Audience} often say the hardest part is simply starting.",
    "A simple checklist makes {aspect} far easier to manage.",
    "Try to {action}; it {benefit}.",
    "Compare your results {time} with where you started.",
    "The goal is steady progress, not a flawless first attempt at {aspect}.",
    "Watch out for {mistake}, especially {time}.",
    "Once {aspect} is under control, the rest tends to follow.",
    "Budget a little time for {aspect}; it {benefit}.",
    "Write down what works so you can repeat it {time}.",
    "Many {audience} lose momentum by {mistake}.",
    "Sharing your plan with someone else {benefit}.",
    "Setting expectations early {benefit}.",
    "You do not need expensive gear to get {aspect} right.",
    "Progress feels slow at first, then suddenly obvious {time}.",
)
KEYWORD_SENTENCES = (
    "The core idea behind {kw} is to {action} and build from there.",
    "{Kw} works best when {aspect} gets the attention it deserves.",
    "For {audience}, {kw} {benefit}.",
    "A thoughtful approach to {kw} {benefit}.",
    "Getting {kw} right starts with {aspect}.",
    "People who succeed with {kw} usually {action} early on.",
    "The biggest risk with {kw} is {mistake}.",
    "Results from {kw} tend to show {time}.",
    "There is no single right way to approach {kw}, but {aspect} is a reliable starting point.",
    "If {kw} feels overwhelming, {action}.",
    "Treat {kw} as an ongoing practice and revisit {aspect} {time}.",
    "Most guides to {kw} skip over {aspect}, yet it {benefit}.",
)
SECTION_HEADINGS = (
    "Common mistakes to avoid",
    "Choosing the right tools",
    "Building a routine that lasts",
    "Measuring your progress",
    "Saving time and money",
    "Advanced tips for {kw}",
    "A simple step-by-step plan",
    "Questions people often ask",
    "Adapting {kw} to your situation",
    "What to do when things go wrong",
)
FIRST_HEADINGS = ("Why {kw} matters", "Getting started with {kw}", "What {kw} really involves")
TITLES = (
    "{T}: A Practical Guide",
    "A Beginner's Guide to {T}",
    "{T}: What Actually Works",
    "How to Get Started with {T}",
    "{T} Made Simple",
)
OPENERS = {
    "friendly": "If you have ever wondered where to begin with {kw}, you are in good company.",
    "professional": "{Kw} has become a practical priority for {audience} who want reliable results.",
    "casual": "Let's be honest: {kw} can feel confusing at first.",
    "authoritative": "{Kw} rewards a disciplined, well-informed approach.",
}
SPIN_LEADS = (
    "As the original piece points out, {s}",
    "Put another way, {s}",
    "The source makes a fair point here: {s}",
    "It is worth repeating that {s}",
    "One useful observation: {s}",
)
KEYWORD_DENSITY_TARGET = 1.2
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "you",
        "your",
        "it's",
        "not",
        "do",
        "does",
        "most",
        "more",
        "much",
        "than",
        "then",
        "them",
        "they",
        "their",
        "there",
        "these",
        "those",
        "people",
        "think",
        "if",
        "into",
        "so",
        "very",
        "also",
        "just",
        "about",
        "which",
        "what",
        "when",
        "where",
        "who",
        "could",
        "should",
        "would",
        "may",
        "might",
        "our",
        "out",
        "up",
        "all",
        "any",
        "some",
        "such",
        "only",
        "over",
        "get",
        "got",
        "make",
        "makes",
        "one",
        "two",
    ]
)


def job_seed(job: JobInput) -> int:
    raw = "|".join(
        (job.mode, job.topic, ",".join(job.keywords), job.source_text, str(job.word_count), job.tone)
    )
    return int(hashlib.sha256(raw.encode()).hexdigest()[:12], 16)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _words(text: str) -> int:
    return len(re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", text))


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", re.sub(r"(?m)^#+\s.*$", "", text)).strip())
    return [p for p in parts if len(p.split()) >= 4]


@dataclass(frozen=True)
class Subject:
    topic: str
    keyword: str
    keywords: tuple[str, ...]
    tone: str


def subject_for(job: JobInput) -> Subject:
    topic = job.topic.strip()
    keywords = tuple(k.strip() for k in job.keywords if k.strip())
    if job.source_text.strip() and (not topic or not keywords):
        terms = [w for w in re.findall(r"[a-z][a-z'-]{2,}", job.source_text.lower()) if w not in _STOPWORDS]
        bigrams = Counter(f"{a} {b}" for a, b in zip(terms, terms[1:], strict=False)).most_common(1)
        unigrams = Counter(terms).most_common(3)
        keywords = keywords or tuple(w for w, _ in unigrams)
        if not topic and (bigrams or unigrams):
            topic = _cap(bigrams[0][0] if bigrams and bigrams[0][1] > 1 else unigrams[0][0])
    topic = topic or "Getting things done"
    keyword = (job.keywords[0].strip() if job.keywords and job.keywords[0].strip() else topic).lower()
    tone = job.tone.lower() if job.tone.lower() in OPENERS else "friendly"
    return Subject(topic=topic, keyword=keyword, keywords=keywords, tone=tone)


class _SentenceMaker:
    def __init__(self, subject: Subject, rng: random.Random) -> None:
        self.subject = subject
        self.rng = rng
        self.used: set[str] = set()
        self.recent: deque[str] = deque(maxlen=8)

    def fill(self, template: str) -> str:
        aspect = self.rng.choice(ASPECTS)
        audience = self.rng.choice(AUDIENCES)
        return template.format(
            kw=self.subject.keyword,
            Kw=_cap(self.subject.keyword),
            aspect=aspect,
            Aspect=_cap(aspect),
            audience=audience,
            Audience=_cap(audience),
            benefit=self.rng.choice(BENEFITS),
            mistake=self.rng.choice(MISTAKES),
            action=self.rng.choice(ACTIONS),
            time=self.rng.choice(TIMES),
        )

    def make(self, *, with_keyword: bool) -> str:
        bank = KEYWORD_SENTENCES if with_keyword else PLAIN_SENTENCES
        fresh = [t for t in bank if t not in self.recent] or list(bank)
        for _ in range(200):
            template = self.rng.choice(fresh)
            sentence = self.fill(template)
            if sentence not in self.used:
                self.used.add(sentence)
                self.recent.append(template)
                return sentence
        raise RuntimeError("offline phrase bank exhausted")


@dataclass
class _Section:
    heading: str
    paragraphs: list[list[str]]
    listing: list[str] | None = None

    def render(self) -> str:
        blocks = [f"## {self.heading}"] if self.heading else []
        blocks += [" ".join(p) for p in self.paragraphs if p]
        if self.listing:
            blocks.append("\n".join(f"{i}. {item}" for i, item in enumerate(self.listing, 1)))
        return "\n\n".join(blocks)


def write_article(job: JobInput, seed: int | None = None) -> str:
    """A markdown article of about ``job.word_count`` words, unique sentence by sentence."""
    seed = job_seed(job) if seed is None else seed
    rng = random.Random(seed)
    subject = subject_for(job)
    maker = _SentenceMaker(subject, rng)
    target = max(150, job.word_count)

    title = rng.choice(TITLES).format(T=_cap(subject.topic))
    intro = _Section(
        "",
        [
            [
                maker.fill(OPENERS[subject.tone]),
                "This guide explains what matters, which mistakes to avoid and how to make "
                f"{subject.keyword} part of a routine that lasts.",
            ]
        ],
    )
    body_count = min(8, max(2, round(target / 260)))
    headings = [rng.choice(FIRST_HEADINGS)] + rng.sample(SECTION_HEADINGS, body_count - 1)
    body = [_Section(h.format(kw=subject.keyword, Kw=_cap(subject.keyword)), [[]]) for h in headings]
    for section in body:
        if section.heading == "A simple step-by-step plan":
            section.listing = [f"{_cap(a)}." for a in rng.sample(ACTIONS, 4)]
    conclusion = _Section(
        rng.choice(("Conclusion", "Final thoughts", "Wrapping up")),
        [
            [
                f"{_cap(subject.keyword)} does not have to be complicated.",
                f"Start small, {rng.choice(ACTIONS)}, and review what you learn {rng.choice(TIMES)}.",
            ]
        ],
    )
    spin_source = list(dict.fromkeys(_sentences(job.source_text))) if job.mode == "spin" else []

    sections = [intro, *body, conclusion]
    total = _words(title) + sum(_words(s.render()) for s in sections)
    keyword_hits = sum(s.render().lower().count(subject.keyword) for s in sections)
    # Intro and conclusion get a share too, so the fill walks: intro, body..., conclusion, body...
    order = [intro, *body, *body, conclusion, *body]
    step = 0
    while total < target - 6:
        section = order[step % len(order)]
        step += 1
        density = 100.0 * keyword_hits / max(total, 1)
        if spin_source and step % 4 == 0:
            original = spin_source.pop(0)
            sentence = rng.choice(SPIN_LEADS).format(s=original[:1].lower() + original[1:])
            if sentence in maker.used:
                continue
            maker.used.add(sentence)
        else:
            sentence = maker.make(with_keyword=density < KEYWORD_DENSITY_TARGET)
        if len(section.paragraphs[-1]) >= rng.randint(3, 5):
            section.paragraphs.append([])
        section.paragraphs[-1].append(sentence)
        total += _words(sentence)
        keyword_hits += sentence.lower().count(subject.keyword)
    return "\n\n".join([f"# {title}", *(s.render() for s in sections)]) + "\n"


def write_brief(job: JobInput, seed: int | None = None) -> str:
    """A structured research brief; keyword analysis in keywords mode, a lighter brief for trends."""
    rng = random.Random((job_seed(job) if seed is None else seed) + 1)
    subject = subject_for(job)
    kw = subject.keyword
    audiences = rng.sample(AUDIENCES, 2)
    lines = [
        f"# Research brief: {subject.topic}",
        "",
        "## Audience",
        f"Primary readers are {audiences[0]}, with {audiences[1]} as a secondary group. They want clear, "
        f"practical advice on {kw} in a {subject.tone} tone, roughly {job.word_count} words long.",
        "",
    ]
    if job.mode == "trends":
        lines += ["## What is trending now"]
        lines += [f"- Rising interest in {kw} and {a}." for a in rng.sample(ASPECTS, 3)]
        lines += [
            "",
            "## Angle to lead with",
            f"- A quick, current take: {kw} that {rng.choice(BENEFITS)}.",
            "",
        ]
        lines += ["## Facts to check", f"- Any statistic quoted about {kw} in the last twelve months.", ""]
        return "\n".join(lines).rstrip() + "\n"
    lines += ["## Angles worth covering"]
    lines += [f"- How {aspect} shapes results with {kw}." for aspect in rng.sample(ASPECTS, 3)]
    lines += [f"- The mistake most readers make: {rng.choice(MISTAKES)}.", ""]
    lines += [
        "## Facts to check",
        f"- Typical cost and time commitment for {kw}.",
        f"- Whether common advice about {rng.choice(ASPECTS)} still holds.",
        f"- Claims that {kw} {rng.choice(BENEFITS)}: find a primary source.",
        "",
    ]
    if job.mode == "keywords":
        lines += ["## Keyword analysis", "| Keyword | Search intent | Suggested placement |", "|---|---|---|"]
        placements = ("title, first paragraph and one H2", "an H2 and the body", "body copy", "body copy")
        intents = ("informational", "how-to", "comparison", "transactional")
        for i, keyword in enumerate(subject.keywords or (kw,)):
            lines.append(
                f"| {keyword} | {intents[i % len(intents)]} | {placements[min(i, len(placements) - 1)]} |"
            )
        lines += ["", f"Focus keyword: **{kw}**. Keep its density between 1 and 2 percent.", ""]
    lines += [
        "## Suggested structure",
        f"- An introduction that names {kw} in the first paragraph.",
        f"- Sections on {', '.join(rng.sample(ASPECTS, 3))}, then a short conclusion.",
        "",
        "## Sources to consult",
        "- Recent practitioner guides and community forums.",
        "- Official or academic material for any figures quoted.",
    ]
    return "\n".join(lines).rstrip() + "\n"


def seo_fields(job: JobInput, article: str, seed: int | None = None) -> dict[str, str]:
    rng = random.Random((job_seed(job) if seed is None else seed) + 2)
    subject = subject_for(job)
    kw = subject.keyword
    suffixes = (": A Practical Guide", ": What Actually Works", " Made Simple", ": Tips for Beginners")
    title = next(
        (f"{_cap(kw)}{s}" for s in rng.sample(suffixes, len(suffixes)) if 30 <= len(kw) + len(s) <= 60),
        f"{_cap(kw)}: A Practical Guide for {_cap(rng.choice(AUDIENCES))}",
    )
    description = (
        f"Learn {kw} the practical way: what matters most, common mistakes to avoid and a simple plan "
        f"that {rng.choice(BENEFITS)}."
    )
    return {
        "meta_title": clip_meta_title(title),
        "meta_description": clip_meta_description(description),
        "focus_keyword": kw,
        "content": article,
    }
