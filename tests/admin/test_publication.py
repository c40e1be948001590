"""Draft -> published: a draft is staff-only (their preview) until published, and the
public data is downloadable only by members who accepted the rules."""

from __future__ import annotations

import shutil
from io import BytesIO
from pathlib import Path

import pytest
from adminworld import World
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from factories import CompetitionFactory, UserFactory
from rest_framework.test import APIClient

from competitions.bundles import competition_import_bundle
from competitions.models import AuditRecord, Competition
from competitions.services.files import competition_file_store
from competitions.services.publication import competition_publish
from podium.errors import ApplicationError

DRAFT_PAGES = ["detail", "data", "rules", "leaderboard", "submit", "my_submissions", "team"]


def _api(world: World, role: str) -> APIClient:
    client = APIClient()
    user = {"participant": world.participant, "other team": world.other_team}.get(role)
    if role == "staff":
        user = world.staff
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize("role", ["anonymous", "participant", "other team"])
def test_a_draft_is_absent_for_everybody_but_staff(world: World, role: str) -> None:
    client = world.client(role)
    listing = client.get(reverse("competitions:list")).content.decode()
    assert world.competition.title in listing
    assert world.draft.title not in listing
    for name in DRAFT_PAGES:
        response = client.get(reverse(f"competitions:{name}", args=[world.draft.slug]))
        assert response.status_code in (404, 302), (name, response.status_code)
        if response.status_code == 302:  # anonymous: log in first; then 404 all the same
            assert role == "anonymous"
    api = _api(world, role)
    slugs = [c["slug"] for c in api.get("/api/v1/competitions/").json()["results"]]
    assert slugs == [world.competition.slug]
    for path in ("", "leaderboard/", "files/", "leaderboard/shakeup/"):
        response = api.get(f"/api/v1/competitions/{world.draft.slug}/{path}")
        assert response.status_code == 404, path
    if role != "anonymous":
        join = api.post(f"/api/v1/competitions/{world.draft.slug}/join/")
        assert join.status_code == 404
        assert not world.draft.teams.exists()


def test_staff_preview_a_draft_with_a_notice(world: World) -> None:
    client = world.client("staff")
    listing = client.get(reverse("competitions:list")).content.decode()
    assert world.draft.title in listing
    assert listing.count("Draft (staff only)") == 1
    for name in DRAFT_PAGES:
        response = client.get(reverse(f"competitions:{name}", args=[world.draft.slug]))
        assert response.status_code in (200, 302), name
    page = client.get(world.draft.get_absolute_url()).content.decode()
    assert "Draft: only staff see this competition" in page
    api = _api(world, "staff")
    assert api.get(f"/api/v1/competitions/{world.draft.slug}/").status_code == 200
    published = client.get(world.competition.get_absolute_url()).content.decode()
    assert "Draft:" not in published


def test_publishing_shows_the_competition_to_everybody(world: World) -> None:
    anonymous = world.client("anonymous")
    assert anonymous.get(world.draft.get_absolute_url()).status_code == 404
    ids = range(1, 21)
    data = {
        "test": "id,x\n" + "".join(f"{i},{i % 3}\n" for i in ids),
        "solution": "id,label\n" + "".join(f"{i},{i % 2}\n" for i in ids),
        "sample_submission": "id,label\n" + "".join(f"{i},0\n" for i in ids),
    }
    for kind, text in data.items():
        competition_file_store(
            competition=world.draft,
            kind=kind,
            name=f"{kind}.csv",
            content=BytesIO(text.encode()),
        )
    competition_publish(actor=world.staff, competition=world.draft)
    assert anonymous.get(world.draft.get_absolute_url()).status_code == 200
    record = AuditRecord.objects.get(competition=world.draft, action="publish")
    assert record.actor == world.staff


def test_publish_refuses_missing_data_and_names_it(db: None) -> None:
    draft = CompetitionFactory(published_at=None, title="Empty")
    staff = UserFactory(is_staff=True)
    with pytest.raises(ApplicationError) as refused:
        competition_publish(actor=staff, competition=draft)
    assert refused.value.message == (
        "Empty cannot be published: it has no Training data (downloadable, /data/train), "
        "no Test inputs (hidden, /data/test), no Solution (hidden labels), no Sample "
        "submission (downloadable). Upload them in the competition's files first."
    )
    draft.refresh_from_db()
    assert draft.published_at is None
    assert not AuditRecord.objects.exists()


def test_publish_runs_the_data_check_on_the_stored_files(world: World) -> None:
    """A draft whose solution was stored before its test inputs changed is refused."""
    files = {
        "test": "id,x\n1,0\n2,1\n3,0\n4,1\n",
        "solution": "id,label\n1,0\n2,1\n3,0\n9,1\n",
        "sample_submission": "id,label\n1,0\n2,0\n3,0\n4,0\n",
    }
    for kind, text in files.items():
        world.draft.files.create(
            kind=kind, name=f"{kind}.csv", file=ContentFile(text.encode(), name=f"{kind}.csv")
        )
    with pytest.raises(ApplicationError) as refused:
        competition_publish(actor=world.staff, competition=world.draft)
    assert "solution.csv" in refused.value.message, refused.value.message
    assert "9" in refused.value.message
    world.draft.refresh_from_db()
    assert world.draft.published_at is None
    assert not AuditRecord.objects.filter(competition=world.draft).exists()


def test_only_organizers_publish_and_only_once(world: World) -> None:
    with pytest.raises(ApplicationError, match="Only organizers can publish"):
        competition_publish(actor=world.participant, competition=world.draft)
    with pytest.raises(ApplicationError, match="already published"):
        competition_publish(actor=world.staff, competition=world.competition)


# Bundles and the demo


def _bundle_copy(bundle: Path, target: Path, replace: tuple[str, str]) -> Path:
    shutil.copytree(bundle, target)
    spec = target / "competition.yaml"
    assert replace[0] in spec.read_text()
    spec.write_text(spec.read_text().replace(*replace))
    return target


def test_a_bundle_without_published_true_imports_a_draft(
    db: None, digits_bundle: Path, tmp_path: Path
) -> None:
    bundle = _bundle_copy(digits_bundle, tmp_path / "b", ("published: true", "published: false"))
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert competition.published_at is None
    # Publishing later by re-import with published: true; a re-import never unpublishes.
    spec = bundle / "competition.yaml"
    spec.write_text(spec.read_text().replace("published: false", "published: true"))
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert competition.is_published
    assert AuditRecord.objects.get(competition=competition).action == "publish"
    spec.write_text(spec.read_text().replace("published: true", ""))
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    assert competition.is_published


def test_a_bundle_that_cannot_be_published_imports_nothing(
    db: None, digits_bundle: Path, monkeypatch: pytest.MonkeyPatch, settings: object
) -> None:
    """The publication's validation refuses: no competition, no stored file is left."""

    def refuse(*, competition: Competition) -> None:
        raise ApplicationError("solution.csv: ids 7, 9 are not in the test set")

    monkeypatch.setattr(
        "competitions.services.publication.competition_publication_validate", refuse
    )
    media = Path(settings.MEDIA_ROOT) / "competitions" / "digits"  # type: ignore[attr-defined]
    before = sorted(media.rglob("*")) if media.exists() else []
    with pytest.raises(ApplicationError, match="ids 7, 9 are not in the test set"):
        competition_import_bundle(bundle_dir=digits_bundle)
    assert not Competition.objects.exists()
    after = sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []
    assert after == [p for p in before if p.is_file()]


def test_published_must_be_a_boolean(db: None, digits_bundle: Path, tmp_path: Path) -> None:
    bundle = _bundle_copy(digits_bundle, tmp_path / "b", ("published: true", "published: yes!"))
    with pytest.raises(ApplicationError, match="published must be true or false"):
        competition_import_bundle(bundle_dir=bundle)


def test_the_demo_is_published(db: None) -> None:
    call_command("load_demo")
    digits = Competition.objects.get(slug="digits")
    assert digits.is_published
    assert APIClient().get("/api/v1/competitions/digits/").status_code == 200


# Download gating (Kaggle's rule)


@pytest.mark.parametrize("role", ["anonymous", "other team", "stranger"])
def test_data_downloads_need_accepted_rules(world: World, role: str) -> None:
    train = world.competition.files.get(kind="train")
    sample = world.competition.files.get(kind="sample_submission")
    if role == "stranger":
        client, api = world.client("anonymous"), APIClient()
        stranger = UserFactory()
        client.force_login(stranger)
        api.force_authenticate(stranger)
    else:
        client, api = world.client(role), _api(world, role)
    if role == "other team":  # a member of another competition's team
        world.other_team.team_memberships.all().delete()
    for record in (train, sample):
        page = client.get(
            reverse("competitions:download", args=[world.competition.slug, record.pk])
        )
        assert page.status_code == 404
        download = api.get(f"/api/v1/competitions/digits/files/{record.pk}/download/")
        assert download.status_code == 404
    listing = api.get("/api/v1/competitions/digits/files/")
    assert listing.status_code == 403
    assert listing.json()["detail"].startswith("Join Handwritten digits (accept its rules)")
    data_page = client.get(reverse("competitions:data", args=["digits"])).content.decode()
    assert "accept its rules) to download" in data_page


def test_members_who_accepted_the_rules_download_the_data(world: World) -> None:
    train = world.competition.files.get(kind="train")
    page = world.client("participant").get(
        reverse("competitions:download", args=[world.competition.slug, train.pk])
    )
    assert page.status_code == 200
    api = _api(world, "participant")
    listed = {f["kind"] for f in api.get("/api/v1/competitions/digits/files/").json()}
    assert listed == {"train", "sample_submission"}
    response = api.get(f"/api/v1/competitions/digits/files/{train.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == train.file.open("rb").read()


def test_the_staff_preview_of_the_data_page_marks_the_hidden_files(world: World) -> None:
    """Staff see every file on the participants' data page (their preview), with the
    hidden ones marked; a participant's page never lists them."""
    url = reverse("competitions:data", args=[world.competition.slug])
    staff_page = world.client("staff").get(url).content.decode()
    assert staff_page.count("(organizers only: never listed or downloadable") == 2
    participant_page = world.client("participant").get(url).content.decode()
    assert "organizers only" not in participant_page
    for hidden in world.competition.files.filter(kind__in=["test", "solution"]):
        assert hidden.name not in participant_page


def test_publish_refuses_an_additional_metric_that_no_longer_exists(
    db: None, digits_bundle: Path, tmp_path: Path
) -> None:
    """A custom additional metric removed from the deployment since it was declared."""
    bundle = _bundle_copy(digits_bundle, tmp_path / "b", ("published: true", "published: false"))
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    Competition.objects.filter(pk=competition.pk).update(additional_metrics=["house_metric"])
    competition.refresh_from_db()
    with pytest.raises(ApplicationError) as refused:
        competition_publish(actor=UserFactory(is_staff=True), competition=competition)
    assert "additional_metrics: Unknown metric 'house_metric'" in (refused.value.message), (
        refused.value.message
    )
    competition.refresh_from_db()
    assert competition.published_at is None
