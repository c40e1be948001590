"""Accounts through the site: e-mail required and unique at sign-up (any case), the
optional verification that answers alike for a new and a taken address, password reset
and change through Django's views, accounts without an address, and the notifications
(header badge, opt-in e-mail) of finished runs and invitations."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import Account, Notification, Submission
from competitions.services.accounts import account_settings_update
from competitions.services.notifications import notification_run_finished
from competitions.services.teams import team_invitation_respond, team_invite

pytestmark = pytest.mark.django_db

PASSWORD = "Analytical-Engine-1843"
NEW_PASSWORD = "Difference-Engine-1822"
SECRET = "hidden-test-input-2.71828"


def signup(client: Client, username: str, email: str):
    return client.post(
        reverse("signup"),
        {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD},
    )


def can_log_in(username: str, password: str, client: Client | None = None) -> bool:
    """Log in through the login page (as a person does; axes needs the request)."""
    client = client or Client()
    client.post(reverse("login"), {"username": username, "password": password})
    return "_auth_user_id" in client.session


def text(response) -> str:
    return response.content.decode()


def link_in(message) -> str:
    found = re.search(r"https?://[^/\s]+(/\S+)", message.body)
    assert found, message.body
    return found.group(1)


def test_sign_up_without_an_address_is_refused() -> None:
    response = signup(Client(), "ada", "")
    assert response.status_code == 200
    assert "This field is required." in text(response)
    assert not User.objects.filter(username="ada").exists()


@pytest.mark.parametrize("second", ["ada@example.org", "ADA@Example.ORG", " Ada@example.org "])
def test_an_address_in_use_in_any_case_is_refused(second: str) -> None:
    assert signup(Client(), "ada", "ada@example.org").status_code == 302
    response = signup(Client(), "grace", second)
    assert response.status_code == 200
    assert "This e-mail address cannot be used for a new account" in text(response)
    assert not User.objects.filter(username="grace").exists()
    assert Account.objects.get(user__username="ada").email_key == "ada@example.org"


def test_an_address_of_an_account_made_before_keys_is_refused_too() -> None:
    UserFactory(username="legacy", email="Old@Example.org")  # no Account row
    response = signup(Client(), "grace", "old@example.org")
    assert "This e-mail address cannot be used" in text(response)
    assert not User.objects.filter(username="grace").exists()


def test_an_account_without_an_address_keeps_working(client: Client) -> None:
    UserFactory(username="legacy", email="")
    assert can_log_in("legacy", "correct horse battery staple", client)
    page = client.get(reverse("competitions:account"))
    assert page.status_code == 200
    assert "This account has no e-mail address" in text(page)
    client.post(reverse("competitions:account"), {"notify": "1", "notify_by_email": "on"})
    assert Account.objects.get(user__username="legacy").notify_by_email


def test_with_verification_a_new_and_a_taken_address_get_the_same_answer(settings) -> None:
    settings.PODIUM_EMAIL_VERIFICATION = True
    UserFactory(username="owner", email="taken@example.org")

    new = signup(Client(), "newbie", "new@example.org")
    taken = signup(Client(), "prober", "TAKEN@example.org")

    assert new.status_code == taken.status_code == 200
    strip = re.compile(r"csrfmiddlewaretoken\" value=\"[^\"]+|new@example.org|TAKEN@example.org")
    assert strip.sub("", text(new)) == strip.sub("", text(taken))
    assert "Check your e-mail" in text(taken)
    assert not User.objects.filter(username="prober").exists()
    newbie = User.objects.get(username="newbie")
    assert not newbie.is_active  # cannot log in before the link is opened
    assert not can_log_in("newbie", PASSWORD)
    # The owner of the taken address hears of the attempt; the prober learns nothing.
    to = {tuple(m.to): m for m in mail.outbox}
    assert set(to) == {("new@example.org",), ("TAKEN@example.org",)}
    assert "already belongs to an account" in to[("TAKEN@example.org",)].body

    browser = Client()
    confirmed = browser.get(link_in(to[("new@example.org",)]), follow=True)
    assert "Your e-mail address is confirmed. Welcome, newbie." in text(confirmed)
    newbie.refresh_from_db()
    assert newbie.is_active and Account.objects.get(user=newbie).email_verified
    again = Client().get(link_in(to[("new@example.org",)]))  # used once: no longer valid
    assert again.status_code == 400 and "Link not valid" in text(again)


def test_password_reset_by_mail_sets_a_new_password() -> None:
    UserFactory(username="ada", email="ada@example.org")
    client = Client()
    page = client.get(reverse("password_reset"))
    assert page.status_code == 200 and "Reset your password" in text(page)

    sent = client.post(reverse("password_reset"), {"email": "ADA@example.org"}, follow=True)
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)

    assert "Check your e-mail" in text(sent) and text(sent) == text(unknown)  # no oracle
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]
    message = mail.outbox[0]
    assert message.subject == "[Podium] Reset your password"
    form = client.get(link_in(message), follow=True)
    assert "Choose a new password" in text(form)
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your new password is set" in text(done)
    assert can_log_in("ada", NEW_PASSWORD)
    assert not can_log_in("ada", "correct horse battery staple")
    reused = Client().get(link_in(message), follow=True)
    assert "This link does not work any more" in text(reused)


def test_password_change_needs_the_old_password(client: Client) -> None:
    UserFactory(username="ada", email="ada@example.org")
    assert can_log_in("ada", "correct horse battery staple", client)
    wrong = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "Your old password was entered incorrectly" in text(wrong)
    done = client.post(
        reverse("password_change"),
        {
            "old_password": "correct horse battery staple",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )
    assert "Your password is changed" in text(done)
    assert can_log_in("ada", NEW_PASSWORD)


def test_password_change_is_for_signed_in_users_only(client: Client) -> None:
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def _badge(client: Client) -> str | None:
    found = re.search(r'data-testid="notification-count">(\d+)<', text(client.get("/")))
    return found.group(1) if found else None


def test_an_invitation_shows_on_the_badge_until_answered(
    django_capture_on_commit_callbacks,
) -> None:
    host = MembershipFactory(team__name="hosts", user__username="host")
    guest = MembershipFactory(team__competition=host.team.competition, user__username="guest")
    guest.user.email = "guest@example.org"
    guest.user.save()
    account_settings_update(user=guest.user, notify_by_email=True)
    client = Client()
    client.force_login(guest.user)
    assert _badge(client) is None

    with django_capture_on_commit_callbacks(execute=True):
        invitation = team_invite(user=host.user, team=host.team, invitee_username="guest")

    assert _badge(client) == "1"
    assert [m.to for m in mail.outbox] == [["guest@example.org"]]
    assert "host invites you to the team hosts" in mail.outbox[0].body
    team_invitation_respond(user=guest.user, invitation=invitation, accept=False)
    assert _badge(client) is None  # answered: nothing left to do


def test_a_finished_run_is_notified_once_without_what_the_run_wrote(
    django_capture_on_commit_callbacks,
) -> None:
    member = MembershipFactory(user__username="ada", team__competition=CompetitionFactory())
    member.user.email = "ada@example.org"
    member.user.save()
    account_settings_update(user=member.user, notify_by_email=True)
    # A scored run on hidden data that tried to carry test inputs out in its message.
    failed = SubmissionFactory(
        team=member.team,
        user=member.user,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.INVALID_PREDICTIONS,
        failure_message=f"column {SECRET} is not expected",
        log_tail=SECRET,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_run_finished(submission_id=failed.pk) is not None
        assert notification_run_finished(submission_id=failed.pk) is None  # a second delivery

    assert Notification.objects.filter(user=member.user).count() == 1
    assert len(mail.outbox) == 1
    assert f"run #{failed.pk} failed" in mail.outbox[0].subject
    assert SECRET not in mail.outbox[0].body and SECRET not in mail.outbox[0].subject
    client = Client()
    client.force_login(member.user)
    assert _badge(client) == "1"
    page = client.get(reverse("notifications"))
    assert f"#{failed.pk}" in text(page) and SECRET not in text(page)
    assert _badge(client) is None  # read


def test_no_email_without_opting_in(django_capture_on_commit_callbacks) -> None:
    member = MembershipFactory(user__username="ada")
    member.user.email = "ada@example.org"
    member.user.save()
    scored = SubmissionFactory(
        team=member.team, user=member.user, status=Submission.Status.SCORED, public_score=0.75
    )
    queued = SubmissionFactory(team=member.team, user=member.user, status=Submission.Status.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_run_finished(submission_id=scored.pk) is not None
        assert notification_run_finished(submission_id=queued.pk) is None  # not finished
    assert mail.outbox == []
    client = Client()
    client.force_login(member.user)
    assert "Public score: 0.75" in text(client.get(reverse("notifications")))


def test_an_address_held_by_an_expired_unconfirmed_account_can_be_claimed(settings) -> None:
    """With verification on, someone who signs up with another person's address holds it
    only until the confirmation link expires; then its owner can sign up with it."""
    settings.PODIUM_EMAIL_VERIFICATION = True
    signup(Client(), "squatter", "victim@example.org")
    squatter = User.objects.get(username="squatter")
    assert not squatter.is_active

    signup(Client(), "victim", "Victim@example.org")  # the link has not expired yet
    assert not User.objects.filter(username="victim").exists()

    User.objects.filter(pk=squatter.pk).update(
        date_joined=squatter.date_joined
        - dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    )
    mail.outbox.clear()
    signup(Client(), "victim", "Victim@example.org")

    assert not User.objects.filter(username="squatter").exists()
    victim = User.objects.get(username="victim")
    assert [m.to for m in mail.outbox] == [["Victim@example.org"]]
    assert "confirm it" in mail.outbox[0].body
    assert not victim.is_active  # until the owner opens the link


def test_a_finished_debug_run_is_notified_as_checked(django_capture_on_commit_callbacks) -> None:
    """Debug runs are validated, not scored on hidden labels: the notification and its
    e-mail say so in the words of the run's page ("Checked")."""
    member = MembershipFactory(user__username="ada")
    member.user.email = "ada@example.org"
    member.user.save()
    account_settings_update(user=member.user, notify_by_email=True)
    debug = SubmissionFactory(
        team=member.team, user=member.user, status=Submission.Status.SCORED, is_debug=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_run_finished(submission_id=debug.pk) is not None
    assert f"run #{debug.pk} checked" in mail.outbox[0].subject
    client = Client()
    client.force_login(member.user)
    shown = text(client.get(reverse("notifications")))
    assert f"debug run #{debug.pk}" in shown and "finished: checked." in shown
    assert "finished: scored" not in shown
