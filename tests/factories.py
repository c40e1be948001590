"""factory_boy factories for the domain models."""

import datetime as dt

import factory
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone

from competitions import standings
from competitions.models import Competition, Submission, Team, TeamMembership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class CompetitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Competition

    slug = factory.Sequence(lambda n: f"comp{n}")
    title = factory.Sequence(lambda n: f"Competition {n}")
    start = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    end = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))
    metric = "accuracy"
    target_columns = factory.LazyFunction(lambda: ["label"])
    # Published, as most tests need; draft tests pass published_at=None.
    published_at = factory.LazyFunction(timezone.now)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    competition = factory.SubFactory(CompetitionFactory)
    name = factory.Sequence(lambda n: f"team{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMembership

    team = factory.SubFactory(TeamFactory)
    competition = factory.SelfAttribute("team.competition")
    user = factory.SubFactory(UserFactory)
    rules_accepted_at = factory.LazyFunction(timezone.now)


class SubmissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submission

    team = factory.SubFactory(TeamFactory)
    competition = factory.SelfAttribute("team.competition")
    user = factory.SubFactory(UserFactory)
    image = factory.LazyFunction(lambda: ContentFile(b"not an image", name="image.tar"))
    image_sha256 = "0" * 64
    image_size = 12
    status = Submission.Status.SCORED
    public_score = 0.5
    private_score = 0.5

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        # A row written here stands for a recorded run: its team's standing follows, as
        # it does after every write of the services (competitions.standings).
        super()._after_postgeneration(instance, create, results)
        if create:
            standings.standing_refresh(team_id=instance.team_id)
