"""The look-alike checks cannot be bypassed by capitals (name_key('ALICE_H') once differed
from name_key('alice_h'): "I" was mapped to "l" before case folding) nor by invisible
characters of category Lo (Hangul fillers) or Mn (variation selectors): every
Default_Ignorable_Code_Point is refused, at sign-up, at team rename on the page and in the
API."""

from __future__ import annotations

import importlib
import sys
import unicodedata

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import Client
from factories import CompetitionFactory, UserFactory

from competitions.models import Team, UsernameKey
from competitions.names import (
    CASE_CLASSES_BELOW,
    InvalidName,
    _fold,
    _skeleton,
    name_key,
    name_normalize,
)
from competitions.services.accounts import account_username_check
from competitions.services.teams import competition_join, team_rename
from podium.errors import ApplicationError
from tests.api.apifixtures import token_client

CASE_AND_CONFUSABLE = ["ALICE_H", "Alice_H", "aIice_h", "a1ice_h", "AL1CE_H", "al|ce_h"]
INVISIBLE = {
    "\u115f": "U+115F HANGUL CHOSEONG FILLER",
    "\u1160": "U+1160 HANGUL JUNGSEONG FILLER",
    "\u3164": "U+3164 HANGUL FILLER",
    "\uffa0": "U+FFA0 HALFWIDTH HANGUL FILLER",
    "\ufe0f": "U+FE0F VARIATION SELECTOR-16",
    "\U000e0100": "U+E0100 VARIATION SELECTOR-17",
    "\u034f": "U+034F COMBINING GRAPHEME JOINER",
    "\u180b": "U+180B MONGOLIAN FREE VARIATION SELECTOR ONE",
    "\u180f": "U+180F MONGOLIAN FREE VARIATION SELECTOR FOUR",
    "\u2064": "U+2064 INVISIBLE PLUS",
}


@pytest.mark.parametrize("variant", CASE_AND_CONFUSABLE)
def test_case_variants_and_confusables_share_a_key(variant: str) -> None:
    assert name_key(variant) == name_key("alice_h")


@pytest.mark.parametrize("name", ["ALICE", "alice", "aIice", "a1ice", "AIICE", "a\u0406ice"])
def test_the_briefs_four_spellings_of_alice_collide(name: str) -> None:
    assert name_key(name) == name_key("alice")


def test_a_confusable_of_either_case_shares_the_key_for_every_character() -> None:
    """For every code point c (NFKC-stable, with an NFKC-stable prototype): a name holding
    c and the same name holding c's TR39 prototype share a key, whatever the case of
    either; and where c and its case variants have single-character prototypes, the case
    variants share it too (the "I" looks like "l" but folds to "i" bypass)."""
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        prototype = _skeleton(ch)
        if unicodedata.normalize("NFKC", ch) != ch:
            continue
        key = name_key(f"a{ch}b")
        if unicodedata.normalize("NFKC", prototype) == prototype:
            assert key == name_key(f"a{prototype}b"), hex(code)
        if code >= CASE_CLASSES_BELOW:
            continue
        for variant in (ch.upper(), ch.casefold()):
            if len(_fold(variant)) == len(_fold(ch)) == 1:
                assert key == name_key(f"a{variant}b"), hex(code)


@pytest.mark.parametrize("different", ["alice_x", "bob", "alicia", "bice"])
def test_different_names_still_differ(different: str) -> None:
    assert name_key(different) != name_key("alice_h")


@pytest.mark.parametrize(("one", "other"), [("team0", "team6"), ("rob", "tob"), ("ada", "eda")])
def test_over_blocking_stays_within_reason(one: str, other: str) -> None:
    assert name_key(one) != name_key(other)


@pytest.mark.parametrize("char", list(INVISIBLE))
def test_every_default_ignorable_is_refused_and_named(char: str) -> None:
    with pytest.raises(InvalidName) as exc:
        name_normalize(f"alice{char}_h", what="A team name")
    assert INVISIBLE[char] in str(exc.value) or "U+1160" in str(exc.value)
    # Should one be stored by another path, it does not change the key.
    assert name_key(f"alice{char}_h") == name_key("alice_h")


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
@pytest.mark.parametrize("name", ["ALICE_H", "aIice_h", "a1ice_h"])
def test_a_case_variant_username_is_refused_at_sign_up(client: Client, name: str) -> None:
    assert signup(client, "alice_h").status_code == 302

    response = signup(Client(), name)

    assert response.status_code == 200
    assert "This username is not available" in response.content.decode()
    assert list(User.objects.values_list("username", flat=True)) == ["alice_h"]


@pytest.mark.django_db
@pytest.mark.parametrize("char", ["\u115f", "\u3164", "\uffa0", "\ufe0f", "\u034f", "\u180b"])
def test_a_username_with_an_invisible_character_is_refused_at_sign_up(
    client: Client, char: str
) -> None:
    response = signup(client, f"alice{char}_h")

    assert response.status_code == 200
    assert "cannot contain invisible, blank-looking or control characters" in (
        response.content.decode()
    )
    assert not User.objects.exists()
    assert signup(Client(), "alice_h").status_code == 302  # the plain name stays free


@pytest.fixture
def rivals(db: None, settings):
    settings.DEBUG = False  # the production pages
    competition = CompetitionFactory(title="Digits")
    alice = UserFactory(username="alice")
    team_rename(
        user=alice, team=competition_join(user=alice, competition=competition), name="alice_h"
    )
    mallory = UserFactory(username="mallory")
    return competition, mallory, competition_join(user=mallory, competition=competition)


HOSTILE_TEAM_NAMES = [
    "ALICE_H",
    "aIice_h",
    "alice\u115f_h",
    "alice\u3164_h",
    "alice\ufe0f_h",
    "alice_h\u2800",  # braille pattern blank
    "alice\U0001d159_h",  # musical symbol null notehead
    "e" + "\u0301" * 98,  # a smear over the rows above and below
]


@pytest.mark.parametrize("name", HOSTILE_TEAM_NAMES)
def test_a_hostile_team_rename_is_refused_on_the_page(rivals, name: str) -> None:
    competition, mallory, team = rivals
    client = Client()
    client.force_login(mallory)

    response = client.post(f"/c/{competition.slug}/team/rename/", {"name": name}, follow=True)

    page = response.content.decode()
    assert (
        'class="error">Another team in Digits is already called &#x27;alice_h&#x27;' in page
        or "looks the same as the name of another team in Digits" in page
        or 'class="error">A team name cannot contain invisible, blank-looking or control' in page
        or 'class="error">A team name may put at most 3 accents' in page
    )
    team.refresh_from_db()
    assert team.name == "mallory"


@pytest.mark.parametrize("name", HOSTILE_TEAM_NAMES)
def test_a_hostile_team_rename_is_refused_in_the_api(rivals, name: str) -> None:
    competition, mallory, team = rivals

    response = token_client(mallory).patch(
        f"/api/v1/competitions/{competition.slug}/team/", {"name": name}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"name_taken", "invalid_name"}, response.json()
    team.refresh_from_db()
    assert team.name == "mallory"


@pytest.mark.django_db
def test_the_migration_recomputes_keys_and_keeps_legacy_look_alikes() -> None:
    competition = CompetitionFactory(title="Digits")
    first = Team.objects.create(competition=competition, name="alice_h")
    # Made under the old key (which told these apart): now a legacy look-alike.
    Team.objects.filter(pk=first.pk).update(name_key="stale")
    second = Team.objects.create(competition=competition, name="ALICE_H")
    Team.objects.filter(pk=second.pk).update(name_key="allce_h")
    users = [User.objects.create(username=n) for n in ("alice_h", "ALICE_H")]
    UsernameKey.objects.create(user=users[0], key="alice_h")
    UsernameKey.objects.create(user=users[1], key="allce_h")

    module = importlib.import_module("competitions.migrations.0010_name_keys_casefold")
    module.refill_keys(apps, None)

    key = name_key("alice_h")
    assert dict(Team.objects.values_list("pk", "name_key")) == {
        first.pk: key,
        second.pk: f"{key}#{second.pk}",
    }
    assert dict(UsernameKey.objects.values_list("user_id", "key")) == {
        users[0].pk: key,
        users[1].pk: f"{key}#{users[1].pk}",
    }
    # And nothing new may look like either.
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(competition=competition, name="aIice_h")


BLANK_LOOKING_NAMED = {
    "\u2800": "U+2800 BRAILLE PATTERN BLANK",
    "\u303f": "U+303F IDEOGRAPHIC HALF FILL SPACE",
    "\U00016fe4": "U+16FE4 KHITAN SMALL SCRIPT FILLER",
    "\U0001d159": "U+1D159 MUSICAL SYMBOL NULL NOTEHEAD",
}


@pytest.mark.parametrize("char", list(BLANK_LOOKING_NAMED))
def test_blank_looking_characters_are_refused_and_named(char: str) -> None:
    with pytest.raises(InvalidName) as exc:
        name_normalize(f"alice{char}", what="A team name")
    assert str(exc.value) == (
        "A team name cannot contain invisible, blank-looking or control characters; this one "
        f"has {BLANK_LOOKING_NAMED[char]}."
    )


def test_combining_marks_are_bounded_per_character() -> None:
    assert name_normalize("ve\u0323\u0302t") == "v\u1ec7t"  # Vietnamese: composed
    assert len(name_normalize("\u05e9\u05bc\u05c1\u05b8")) == 4  # pointed Hebrew: 3 marks
    assert len(name_normalize("a\u0301\u0302\u0303\u0304b")) == 5  # NFKC: á + 3 marks
    for smear in ("e" + "\u0301" * 98, "a\u0301\u0302\u0303\u0304\u0306b", "\u0301" * 4):
        with pytest.raises(InvalidName, match="at most 3 accents"):
            name_normalize(smear, what="A team name")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["alice\u2800", "e" + "\u0301" * 98])
def test_a_blank_or_smeared_username_is_refused(name: str) -> None:
    with pytest.raises(ApplicationError) as exc:
        account_username_check(username=name)
    assert exc.value.extra["code"] == "invalid_name"
