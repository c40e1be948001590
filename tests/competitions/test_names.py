"""Names that cannot impersonate: team names and usernames are normalised and unique by a
look-alike key (Unicode TR39 skeleton), so "bob" with a zero-width character, a Cyrillic
"o" (U+043E) or full-width letters cannot stand next to "bob"."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from factories import CompetitionFactory, UserFactory

from competitions.models import Team, UsernameKey
from competitions.names import InvalidName, name_key, name_normalize
from competitions.services.teams import competition_join, team_rename
from podium.errors import ApplicationError

CYRILLIC_O = "\u043e"
ZERO_WIDTH_SPACE = "\u200b"
RIGHT_TO_LEFT_OVERRIDE = "\u202e"


@pytest.mark.parametrize(
    "look_alike",
    ["bob", "BOB", f"b{CYRILLIC_O}b", "\uff42\uff4f\uff42", "b0b", "B\u2080B", " bob "],
)
def test_look_alikes_share_a_key(look_alike: str) -> None:
    assert name_key(look_alike) == name_key("bob")


@pytest.mark.parametrize("different", ["bobby", "rob", "b b", "bób"])
def test_different_names_keep_different_keys(different: str) -> None:
    if different == "b b":  # spacing is not a difference either
        assert name_key(different) == name_key("bb")
    else:
        assert name_key(different) != name_key("bob")


def test_normalise_gives_nfkc_single_spaces_and_refuses_invisible_characters() -> None:
    assert name_normalize("  \uff42\uff4f\uff42   the\u3000builder ") == "bob the builder"
    for char, named in [
        (ZERO_WIDTH_SPACE, "U+200B ZERO WIDTH SPACE"),
        (RIGHT_TO_LEFT_OVERRIDE, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\x1b", "U+001B"),
    ]:
        with pytest.raises(InvalidName, match=re.escape(named)):
            name_normalize(f"bo{char}b", what="A team name")
    with pytest.raises(InvalidName, match="cannot be empty"):
        name_normalize(" \u3000 ")


@pytest.fixture
def two_teams(db: None) -> tuple[object, Team, Team]:
    competition = CompetitionFactory(title="Digits")
    bob = UserFactory(username="bobsy")
    bobs_team = competition_join(user=bob, competition=competition)
    team_rename(user=bob, team=bobs_team, name="bob")
    mallory = UserFactory(username="mallory")
    return mallory, bobs_team, competition_join(user=mallory, competition=competition)


@pytest.mark.parametrize("name", [f"b{CYRILLIC_O}b", "\uff42\uff4f\uff42", "BOB", "b0b"])
def test_a_look_alike_team_name_is_refused(two_teams, name: str) -> None:
    mallory, _, team = two_teams
    with pytest.raises(ApplicationError) as exc:
        team_rename(user=mallory, team=team, name=name)
    assert exc.value.extra["code"] == "name_taken"
    assert "'bob'" in exc.value.message
    team.refresh_from_db()
    assert team.name == "mallory"


def test_a_team_name_with_an_invisible_character_is_refused_and_named(two_teams) -> None:
    mallory, _, team = two_teams
    with pytest.raises(ApplicationError, match="U\\+200B ZERO WIDTH SPACE") as exc:
        team_rename(user=mallory, team=team, name=f"bo{ZERO_WIDTH_SPACE}b")
    assert exc.value.extra["code"] == "invalid_name"


def test_a_stored_team_name_is_normalised(two_teams) -> None:
    mallory, _, team = two_teams
    team_rename(user=mallory, team=team, name="  \uff4d\uff41\uff4c   team ")
    team.refresh_from_db()
    assert team.name == "mal team" and team.name_key == name_key("mal team")


def test_the_database_refuses_a_look_alike_team_whatever_the_path(two_teams) -> None:
    from django.db import IntegrityError, transaction

    _, bobs_team, _ = two_teams
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(competition=bobs_team.competition, name=f"b{CYRILLIC_O}b")


def test_joining_as_a_look_alike_of_a_team_name_gets_a_distinct_team_name(two_teams) -> None:
    _, bobs_team, _ = two_teams
    # An account made before look-alike checks existed (or by an organizer in the admin).
    legacy = User.objects.create(username="BOB")
    team = competition_join(user=legacy, competition=bobs_team.competition)
    assert team.name == "BOB (2)"


def signup(client: Client, username: str):
    password = "Analytical-Engine-1843"
    return client.post(
        "/accounts/signup/",
        {
            "username": username,
            "email": f"u{abs(hash(username))}@example.org",  # one address per name
            "password1": password,
            "password2": password,
        },
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["bob", "Bob", f"b{CYRILLIC_O}b", "b0b", "\uff42\uff4f\uff42"])
def test_a_look_alike_username_is_refused_at_sign_up(client: Client, name: str) -> None:
    assert signup(client, "bob").status_code == 302

    response = signup(Client(), name)

    assert response.status_code == 200
    assert "This username is not available (it is, or looks like, one in use)" in (
        response.content.decode()
    )
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_sign_up_checks_against_accounts_made_outside_it(client: Client) -> None:
    UserFactory(username="alice")  # made in the shell/admin: no key recorded yet
    assert not UsernameKey.objects.exists()
    response = signup(client, f"alic{chr(0x0435)}")  # Cyrillic ie
    assert "not available" in response.content.decode()
    assert signup(client, "carol").status_code == 302
    assert set(UsernameKey.objects.values_list("key", flat=True)) == {
        name_key("alice"),
        name_key("carol"),
    }


@pytest.mark.django_db
def test_the_admin_refuses_a_look_alike_team_name_with_a_message(admin_client: Client) -> None:
    competition = CompetitionFactory(title="Digits")
    Team.objects.create(competition=competition, name="bob")
    other = Team.objects.create(competition=competition, name="alice")
    url = f"/admin/competitions/team/{other.pk}/change/"
    page = admin_client.get(url)
    if page.status_code == 404:
        pytest.skip("teams have no admin page")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name, "") for name in form.fields}
    data.update({"name": f"b{CYRILLIC_O}b", "competition": competition.pk})
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        prefix = formset.formset.prefix
        for field in management.fields:
            data[f"{prefix}-{field}"] = management.initial.get(field, 0)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "This name looks the same as that of team &#x27;bob&#x27;." in response.content.decode()
    other.refresh_from_db()
    assert other.name == "alice"
