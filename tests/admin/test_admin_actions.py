"""Consequential admin actions confirm first and leave an audit record; audit records
and team memberships cannot be changed around the rules in the admin."""

from __future__ import annotations

from typing import Any

import pytest
from adminworld import World
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from competitions.models import AuditRecord, Competition, Submission, TeamMembership

CHANGELIST = reverse("admin:competitions_competition_changelist")


def _action(client: Any, url: str, action: str, pks: list[int], **extra: str) -> Any:
    """POST an action from a changelist, as the action menu does."""
    return client.post(
        url, {"action": action, helpers.ACTION_CHECKBOX_NAME: pks, "index": 0, **extra}
    )


def _confirm(client: Any, url: str, action: str, pks: list[int]) -> Any:
    """POST the confirmation page's form."""
    return client.post(url, {"action": action, helpers.ACTION_CHECKBOX_NAME: pks, "confirm": "yes"})


def _audit(competition: Competition, action: str) -> int:
    return AuditRecord.objects.filter(competition=competition, action=action).count()


@pytest.mark.parametrize(
    ("action", "audit", "changed"),
    [
        ("reveal_private", "reveal", lambda c: c.private_revealed_at is not None),
        ("rescore", "rescore", lambda c: True),
    ],
)
def test_results_actions_show_a_confirmation_page_then_act_on_confirm(
    world: World, action: str, audit: str, changed: Any
) -> None:
    client = world.client("staff")
    competition = world.competition

    page = _action(client, CHANGELIST, action, [competition.pk])
    assert page.status_code == 200
    assert "admin/podium_confirm_action.html" in [t.name for t in page.templates]
    assert _audit(competition, audit) == 0
    competition.refresh_from_db()
    assert competition.private_revealed_at is None

    done = _confirm(client, CHANGELIST, action, [competition.pk])
    assert done.status_code == 302
    competition.refresh_from_db()
    assert changed(competition)
    record = AuditRecord.objects.get(competition=competition, action=audit)
    assert record.actor == world.staff


def test_reveal_while_open_says_the_competition_is_still_open(world: World) -> None:
    assert world.competition.is_open
    page = _action(world.client("staff"), CHANGELIST, "reveal_private", [world.competition.pk])
    text = page.content.decode()
    assert f"{world.competition.title} is still open (closes" in text
    assert "before the end" in text


def test_hide_confirms_and_is_recorded(world: World) -> None:
    client = world.client("staff")
    _confirm(client, CHANGELIST, "reveal_private", [world.competition.pk])
    page = _action(client, CHANGELIST, "hide_private", [world.competition.pk])
    assert "private scores are hidden from participants again" in page.content.decode()
    world.competition.refresh_from_db()
    assert world.competition.private_revealed_at is not None
    _confirm(client, CHANGELIST, "hide_private", [world.competition.pk])
    world.competition.refresh_from_db()
    assert world.competition.private_revealed_at is None
    assert _audit(world.competition, "hide") == 1


def test_object_button_get_shows_the_page_and_changes_nothing(world: World) -> None:
    client = world.client("staff")
    draft = world.draft
    world.draft.files.all().delete()
    url = reverse("admin:competitions_competition_confirm", args=[draft.pk, "publish"])
    change = client.get(reverse("admin:competitions_competition_change", args=[draft.pk]))
    assert url in change.content.decode()  # the change page links the button

    page = client.get(url)
    assert page.status_code == 200
    assert "A draft becomes visible to everybody" in page.content.decode()
    draft.refresh_from_db()
    assert draft.published_at is None

    # Confirmed, but the data is missing: refused, named, still a draft, nothing recorded.
    refused = client.post(url, {"confirm": "yes"}, follow=True)
    text = refused.content.decode()
    assert "cannot be published: it has no Training data" in text
    draft.refresh_from_db()
    assert draft.published_at is None
    assert _audit(draft, "publish") == 0


def test_publish_through_the_confirmation_page(world: World, digits_bundle: Any) -> None:
    from competitions.bundles import competition_import_bundle

    spec = digits_bundle / "competition.yaml"
    text = spec.read_text()
    draft_bundle = digits_bundle.parent / "draft-digits"
    import shutil

    shutil.copytree(digits_bundle, draft_bundle)
    (draft_bundle / "competition.yaml").write_text(
        text.replace("slug: digits", "slug: digits-two").replace("published: true", "")
    )
    competition, _ = competition_import_bundle(bundle_dir=draft_bundle)
    assert not competition.is_published
    client = world.client("staff")
    url = reverse("admin:competitions_competition_confirm", args=[competition.pk, "publish"])
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    competition.refresh_from_db()
    assert competition.is_published
    record = AuditRecord.objects.get(competition=competition, action="publish")
    assert record.actor == world.staff


def test_requeue_confirms_and_is_recorded(world: World) -> None:
    client = world.client("staff")
    failed = world.submissions[1]
    url = reverse("admin:competitions_submission_changelist")
    page = _action(client, url, "requeue", [failed.pk])
    assert f"Submission {failed.pk} of team us" in page.content.decode()
    failed.refresh_from_db()
    assert failed.status == Submission.Status.FAILED

    change = client.get(reverse("admin:competitions_submission_change", args=[failed.pk]))
    button = reverse("admin:competitions_submission_confirm", args=[failed.pk, "requeue"])
    assert button in change.content.decode()
    assert client.get(button).status_code == 200
    failed.refresh_from_db()
    assert failed.status == Submission.Status.FAILED

    _confirm(client, url, "requeue", [failed.pk])
    failed.refresh_from_db()
    assert failed.status == Submission.Status.QUEUED
    record = AuditRecord.objects.get(action="requeue")
    assert record.details == {"submissions": [failed.pk]}


def test_participants_cannot_reach_confirmation_pages(world: World) -> None:
    url = reverse("admin:competitions_competition_confirm", args=[world.draft.pk, "publish"])
    for role in ("anonymous", "participant", "other team"):
        response = world.client(role).post(url, {"confirm": "yes"})
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    world.draft.refresh_from_db()
    assert world.draft.published_at is None


# Audit records are kept for good


def test_audit_records_cannot_be_edited_or_deleted_in_the_admin(world: World) -> None:
    client = world.client("staff")
    record = AuditRecord.objects.get(action="other")
    before = AuditRecord.objects.count()
    change = reverse("admin:competitions_auditrecord_change", args=[record.pk])
    assert client.get(change).status_code == 200  # viewable
    assert client.post(change, {"action": "hide", "details": "{}"}).status_code == 403
    delete = reverse("admin:competitions_auditrecord_delete", args=[record.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:competitions_auditrecord_changelist")
    _action(client, changelist, "delete_selected", [record.pk], post="yes")
    record.refresh_from_db()
    assert record.action == "other"
    assert AuditRecord.objects.count() == before


def test_a_competition_with_audit_records_cannot_be_deleted_in_the_admin(world: World) -> None:
    client = world.client("staff")
    url = reverse("admin:competitions_competition_delete", args=[world.competition.pk])
    page = client.get(url)
    assert "your account doesn't have permission to delete" in page.content.decode()
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Competition.objects.filter(pk=world.competition.pk).exists()


def test_private_reveal_time_is_not_a_form_field(world: World) -> None:
    """Reveal and publish happen only through the confirmed, audited actions."""
    client = world.client("staff")
    page = client.get(reverse("admin:competitions_competition_change", args=[world.competition.pk]))
    text = page.content.decode()
    assert 'name="private_revealed_at' not in text
    assert 'name="published_at' not in text


# Team memberships follow the team rules


def test_memberships_are_read_only_in_the_team_admin(world: World) -> None:
    client = world.client("staff")
    membership = TeamMembership.objects.get(user=world.participant)
    team = membership.team
    url = reverse("admin:competitions_team_change", args=[team.pk])
    text = client.get(url).content.decode()
    assert world.participant.username in text
    assert 'name="memberships-0-user"' not in text
    assert 'name="competition"' not in text  # a team never moves to another competition

    response = client.post(
        url,
        {
            "name": "renamed",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": str(membership.pk),
            "memberships-0-team": str(team.pk),
            "memberships-0-user": str(world.other_team.pk),
            "memberships-0-DELETE": "on",
        },
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.user == world.participant


def test_a_run_whose_image_was_deleted_says_it_cannot_run_again(world: World) -> None:
    """The retention policy deletes a finished run's archive: the admin offers no
    "Run again…" for it and its confirmation page and result say why nothing is queued."""
    client = world.client("staff")
    failed = world.submissions[1]
    failed.image.delete(save=False)
    Submission.objects.filter(pk=failed.pk).update(image_deleted_at=timezone.now())
    change = client.get(reverse("admin:competitions_submission_change", args=[failed.pk]))
    page = change.content.decode()
    button = reverse("admin:competitions_submission_confirm", args=[failed.pk, "requeue"])
    assert button not in page
    assert "(missing from storage)" in page
    image_link = reverse(
        "admin:competitions_stored_file",
        kwargs={"model": "submission", "pk": failed.pk, "field": "image"},
    )
    assert image_link not in page  # no link to a file that is gone

    url = reverse("admin:competitions_submission_changelist")
    asked = _action(client, url, "requeue", [failed.pk]).content.decode()
    assert "cannot run again: its image archive was deleted" in asked
    done = client.post(
        url,
        {"action": "requeue", helpers.ACTION_CHECKBOX_NAME: [failed.pk], "confirm": "yes"},
        follow=True,
    ).content.decode()
    assert "Queued 0 submission(s) again." in done
    assert "1 failed submission(s) cannot run again" in done
    failed.refresh_from_db()
    assert failed.status == Submission.Status.FAILED


def test_competitions_with_the_same_title_are_told_apart_in_filters_and_selects(
    world: World,
) -> None:
    """Titles need not be unique; the admin's filters and selects name the slug too."""
    Competition.objects.filter(pk=world.draft.pk).update(title=world.competition.title)
    client = world.client("staff")
    listing = client.get(reverse("admin:competitions_submission_changelist")).content.decode()
    for competition in (world.competition, world.draft):
        assert f"{world.competition.title} ({competition.slug})" in listing
    add_team = client.get(reverse("admin:competitions_team_add")).content.decode()
    assert f"{world.competition.title} ({world.draft.slug})" in add_team
