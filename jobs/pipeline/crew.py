"""The sequential crew: researcher, writer and SEO editor, built for the stages still to run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewai import Agent, Crew, Process, Task
from pydantic import BaseModel, Field

from .contracts import JobInput
from .grounding import cite_instruction, quoted_sources
from .offline_text import subject_for

if TYPE_CHECKING:
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.llms.base_llm import BaseLLM


class SeoOutput(BaseModel):
    meta_title: str = Field(description="SEO title, at most 60 characters, containing the focus keyword")
    meta_description: str = Field(
        description="Meta description, 70 to 160 characters, with the focus keyword"
    )
    focus_keyword: str = Field(description="The single keyword phrase the article is optimised for")
    content: str = Field(description="The final article in markdown, starting with a single '# ' title")


_ROLES = {
    "research": (
        "Content Researcher",
        "Find the angles, audience needs and facts that make an article worth reading",
        "You research topics for an SEO content team and hand writers tight, structured briefs.",
    ),
    "writing": (
        "Content Writer",
        "Write clear, original, well-structured articles that match the requested length and tone",
        "You are a versatile writer who turns briefs into engaging markdown articles.",
    ),
    "seo": (
        "SEO Editor",
        "Optimise articles for search without hurting readability",
        "You are an SEO editor who tunes titles, headings, keyword placement and meta data.",
    ),
}


def _quoted(label: str, text: str) -> str:
    return f"\n\n{label}:\n<<<\n{text.strip()}\n<<<END"


def _research_description(job: JobInput) -> str:
    topic = subject_for(job).topic
    if job.mode == "trends":
        return (
            f"Do a quick, lightweight scan of what is trending right now about '{topic}'. "
            "Keep the brief short: the current trends, one angle to lead with and the facts to check."
        )
    description = (
        f"Research '{topic}' for a {job.word_count}-word article in a {job.tone} tone. Produce a structured "
        "markdown brief: target audience, angles worth covering, facts to check and sources to consult."
    )
    if job.mode == "keywords":
        description += (
            f" Include a keyword analysis of: {', '.join(job.keywords) or topic} (search intent and "
            "where each keyword belongs) and name the focus keyword."
        )
    if job.materials:
        description += (
            " Base the brief on the numbered sources below: list the facts worth using, each followed by "
            "its source's number in brackets, as [1]." + quoted_sources(job.materials)
        )
    return description


def _writing_description(job: JobInput, completed: dict[str, str]) -> str:
    subject = subject_for(job)
    shape = (
        f"in markdown with exactly one '# ' title, an introduction that uses the focus keyword "
        f"'{subject.keyword}', several '## ' sections and a conclusion. Aim for {job.word_count} words."
    )
    if job.mode == "spin":
        return (
            f"Rewrite the source text below into an original article in a {job.tone} tone, {shape} Keep the "
            "facts, change the wording and structure." + _quoted("Source text", job.source_text)
        )
    description = (
        f"Write an article about '{subject.topic}' in a {job.tone} tone, {shape} Follow the research brief."
    )
    if "research" in completed:
        description += _quoted("Research brief (from an earlier attempt)", completed["research"])
    if job.materials:
        description += cite_instruction(job.materials) + quoted_sources(job.materials)
    return description


def _seo_description(job: JobInput, completed: dict[str, str]) -> str:
    keyword = subject_for(job).keyword
    description = (
        f"Optimise the article for the focus keyword '{keyword}': keyword in the title, the first "
        "paragraph and at least one '## ' heading, natural density, one '# ' title and at least two '## ' "
        "sections. Return meta_title (at most 60 characters), meta_description (70-160 characters), "
        "focus_keyword and the final markdown content, keeping the article's length."
    )
    if job.materials:
        description += " Keep every citation such as [1] where it stands."
    if "writing" in completed:
        description += _quoted("Article (from an earlier attempt)", completed["writing"])
    return description


def build_crew(
    job: JobInput, stages: list[str], completed: dict[str, str], llms: dict[str, BaseLLM]
) -> tuple[Crew, dict[int, str]]:
    """The crew for ``stages`` and a map from ``id(task)`` to stage name."""
    tasks: list[Task] = []
    agents: list[BaseAgent] = []
    task_stage: dict[int, str] = {}
    for stage in stages:
        role, goal, backstory = _ROLES[stage]
        agent = Agent(
            role=role,
            goal=goal,
            backstory=backstory,
            llm=llms[stage],
            allow_delegation=False,
            verbose=False,
            max_retry_limit=0,
            cache=False,
            inject_date=False,
        )
        if stage == "research":
            task = Task(
                description=_research_description(job),
                expected_output="A structured markdown research brief",
                agent=agent,
            )
        elif stage == "writing":
            task = Task(
                description=_writing_description(job, completed),
                expected_output="The article in markdown",
                agent=agent,
                context=list(tasks),
            )
        else:
            task = Task(
                description=_seo_description(job, completed),
                expected_output="The optimised article and its SEO metadata",
                agent=agent,
                context=tasks[-1:],
                output_pydantic=SeoOutput,
            )
        agents.append(agent)
        tasks.append(task)
        task_stage[id(task)] = stage
    crew = Crew(
        agents=agents, tasks=tasks, process=Process.sequential, verbose=False, memory=False, tracing=False
    )
    return crew, task_stage
