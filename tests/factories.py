"""factory_boy factories. Jobs and batches are created through the services, as a user would create
them: validated, forecast, and with their first event in the log."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from jobs.core import services
from jobs.core.validation import JobSpec, parse_job
from jobs.models import BulkJob, GenerationJob, Result

# What each mode needs besides its mode.
INPUTS: dict[str, dict[str, Any]] = {
    "topic": {"topic": "Composting in small apartments"},
    "keywords": {"keywords": ["balcony garden", "container tomatoes"]},
    "trends": {"topic": "Home energy"},
    "spin": {"source_text": "Solar panels cut bills. They need sun and a good roof. Installers can help."},
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"writer{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def saved(obj, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


def token_for(user: object) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def a_result(**fields: object) -> Result:
    """A finished article's result; tests override what they check."""
    values: dict[str, object] = {
        "content": "# T\n\nBody",
        "meta_title": "T",
        "meta_description": "D",
        "word_count": 310,
        "seo_score": 70,
        "readability_score": 60.0,
    }
    values.update(fields)
    return Result(**values)


def job_fields(mode: str = "topic", **fields: Any) -> dict[str, Any]:
    """A valid job input for `mode` (300 words unless given), with `fields` on top."""
    return {"mode": mode, **INPUTS[mode], "word_count": 300, **fields}


def job_spec(mode: str = "topic", **fields: Any) -> JobSpec:
    spec, errors = parse_job(job_fields(mode, **fields))
    assert spec is not None, errors
    return spec


class JobFactory(factory.Factory):
    """`JobFactory(user=u, mode="spin", word_count=600)`: a queued job, made by `services.job_create`."""

    class Meta:
        model = GenerationJob

    user = factory.SubFactory(UserFactory)
    mode = "topic"

    @classmethod
    def _create(cls, model_class: type[GenerationJob], *, user: Any, mode: str, **fields: Any) -> GenerationJob:
        return services.job_create(user=user, spec=job_spec(mode, **fields))


class BulkFactory(factory.Factory):
    """`BulkFactory(user=u, size=3)`: a queued batch of `size` topic jobs, made by `services.bulk_create`."""

    class Meta:
        model = BulkJob

    user = factory.SubFactory(UserFactory)
    size = 3
    mode = "topic"

    @classmethod
    def _create(cls, model_class: type[BulkJob], *, user: Any, size: int, mode: str, **fields: Any) -> BulkJob:
        specs = [job_spec(mode, **{"topic": f"Topic {n}", **fields}) for n in range(size)]
        return services.bulk_create(user=user, specs=specs)
