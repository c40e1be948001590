"""Runtime images participants can get, and re-runs from a submission's page (issue 16),
through Django's test client with DEBUG off (the production configuration's pages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory
from small_bundles import write_bundle

from competitions.bundles import competition_import_bundle
from competitions.models import CompetitionFile, RuntimeImage, Submission
from competitions.services.runtime_images import competition_runtime_images, runtime_image_refresh

pytestmark = pytest.mark.django_db

ARCHIVE = bytes(range(256)) * 40  # 10240 bytes that stand for a docker save archive
IMAGE_ID = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def _production(settings) -> None:
    settings.DEBUG = False


@pytest.fixture
def runtime(settings, tmp_path: Path) -> RuntimeImage:
    settings.PODIUM_RUNTIME_IMAGES_DIR = tmp_path / "runtime-images"
    settings.PODIUM_RUNTIME_IMAGES_DIR.mkdir()
    (settings.PODIUM_RUNTIME_IMAGES_DIR / f"{'ab' * 32}.tar").write_bytes(ARCHIVE)
    runtime, _ = RuntimeImage.objects.update_or_create(
        name="podium/python:3.11",
        defaults={
            "image_id": IMAGE_ID,
            "archive_size": len(ARCHIVE),
            "packages": [
                {"manager": "dpkg", "name": "python3", "version": "3.11.2-1+b1"},
                {"manager": "python", "name": "scikit-learn", "version": "1.2.1"},
            ],
        },
    )
    return runtime


@pytest.fixture
def member(runtime: RuntimeImage):
    member = MembershipFactory(team__competition__slug="digits", user__username="alice")
    member.team.competition.runtime_images.add(runtime)
    return member


@pytest.fixture
def alice(client: Client, member) -> Client:
    client.force_login(member.user)
    return client


def _download(client: Client, **headers: str):
    url = reverse("competitions:runtime_image_download", args=["digits", _runtime().pk])
    return client.get(url, headers=headers)


def _runtime() -> RuntimeImage:
    return RuntimeImage.objects.get(name="podium/python:3.11")


def test_data_and_submit_pages_name_the_runtime_images_their_packages_and_a_dockerfile(
    alice: Client,
) -> None:
    for page in ("data", "submit"):
        text = alice.get(reverse(f"competitions:{page}", args=["digits"])).content.decode()
        assert "<code>podium/python:3.11</code>" in text
        assert "scikit-learn</td><td>1.2.1" in text
        assert "Any <strong>linux/amd64</strong> image works" in text
        assert "FROM podium/python:3.11" in text
        assert "docker save archive</a> (10 KB" in text
    submit = alice.get(reverse("competitions:submit", args=["digits"])).content.decode()
    assert '<option value="podium/python:3.11"' in submit
    assert ".zip" in submit


def test_a_competition_without_runtime_images_says_it_takes_images_only(client: Client) -> None:
    competition = CompetitionFactory(slug="images-only")
    text = client.get(reverse("competitions:data", args=[competition.slug])).content.decode()
    assert "takes images only" in text
    assert "Any <strong>linux/amd64</strong> image works" in text


def test_the_archive_downloads_whole_and_resumes_with_range(alice: Client) -> None:
    client = alice
    whole = _download(client)
    assert whole.status_code == 200
    assert b"".join(whole.streaming_content) == ARCHIVE
    assert whole["Accept-Ranges"] == "bytes"
    assert 'filename="podium_python_3.11.tar"' in whole["Content-Disposition"]

    part = _download(client, Range="bytes=1000-")
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == ARCHIVE[1000:]
    assert part["Content-Range"] == f"bytes 1000-{len(ARCHIVE) - 1}/{len(ARCHIVE)}"

    middle = _download(client, Range="bytes=10-19", **{"If-Range": whole["ETag"]})
    assert b"".join(middle.streaming_content) == ARCHIVE[10:20]
    tail = _download(client, Range="bytes=-5")
    assert b"".join(tail.streaming_content) == ARCHIVE[-5:]

    # A resumed download of an image that was rebuilt meanwhile starts over.
    stale = _download(client, Range="bytes=1000-", **{"If-Range": '"sha256:old"'})
    assert stale.status_code == 200
    past_the_end = _download(client, Range=f"bytes={len(ARCHIVE)}-")
    assert past_the_end.status_code == 416
    assert past_the_end["Content-Range"] == f"bytes */{len(ARCHIVE)}"


def test_only_the_competitions_own_runtime_images_download(alice: Client) -> None:
    client = alice
    other = RuntimeImage.objects.create(name="podium-test/private:1")
    url = reverse("competitions:runtime_image_download", args=["digits", other.pk])
    assert client.get(url).status_code == 404


def test_an_archive_not_made_yet_is_503_and_gets_made(
    alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = alice
    queued: list[bool] = []
    monkeypatch.setattr(
        "competitions.evaluation.tasks.refresh_runtime_images.delay", lambda: queued.append(True)
    )
    RuntimeImage.objects.filter(name="podium/python:3.11").update(image_id="sha256:" + "cd" * 32)

    response = _download(client)

    assert response.status_code == 503
    assert response["Retry-After"] == "120"
    assert "being prepared" in response.content.decode()
    assert queued == [True]
    # A flood of downloads (each a 503) queues no second refresh.
    assert [_download(client).status_code for _ in range(20)] == [503] * 20
    assert queued == [True]


def test_strangers_get_no_archive_and_make_the_worker_do_nothing(
    member, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[bool] = []
    monkeypatch.setattr(
        "competitions.evaluation.tasks.refresh_runtime_images.delay", lambda: queued.append(True)
    )
    stranger = Client()  # signed in, but not in the competition
    stranger.force_login(MembershipFactory(team__competition__slug="other").user)
    for image_id in (IMAGE_ID, "sha256:" + "cd" * 32):  # archive made; not made yet
        RuntimeImage.objects.filter(name="podium/python:3.11").update(image_id=image_id)
        anonymous = _download(Client())
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith("/accounts/login/?next=/c/digits/runtime-images/")
        refused = _download(stranger)
        assert refused.status_code == 403
        assert refused.content.decode() == (
            f"Join {member.team.competition.title} (accept its rules) to download its "
            "runtime images."
        )
    assert queued == []
    page = Client().get(reverse("competitions:data", args=["digits"])).content.decode()
    assert "join the competition (accept its rules) to download it" in page
    assert "/runtime-images/" not in page


def test_a_submission_runs_again_as_a_debug_run_from_its_page(alice: Client, member) -> None:
    CompetitionFile.objects.create(
        competition=member.team.competition,
        kind=CompetitionFile.Kind.DEBUG_TEST,
        name="debug.csv",
        file=ContentFile(b"id,pixels\n1,0\n", name="debug.csv"),
    )
    source = SubmissionFactory(team=member.team, user=member.user)
    page = alice.get(reverse("competitions:submission", args=[source.pk])).content.decode()
    assert "Run again as a debug run" in page

    response = alice.post(
        reverse("competitions:submission_rerun", args=[source.pk]), {"debug": "1"}, follow=True
    )

    rerun = Submission.objects.exclude(pk=source.pk).get()
    assert (rerun.rerun_of_id, rerun.is_debug) == (source.pk, True)
    assert response.redirect_chain[-1][0] == reverse("competitions:submission", args=[rerun.pk])
    assert f"runs again as debug run {rerun.pk}, without upload" in response.content.decode()


def test_another_team_cannot_run_a_submission_again(client: Client, member) -> None:
    source = SubmissionFactory(team=member.team, user=member.user)
    mallory = MembershipFactory(team__competition=member.team.competition)
    client.force_login(mallory.user)
    response = client.post(reverse("competitions:submission_rerun", args=[source.pk]))
    assert response.status_code == 404
    assert Submission.objects.count() == 1


@pytest.mark.docker
def test_refresh_reads_the_packages_of_the_real_base_image(settings, tmp_path: Path) -> None:
    """One sandboxed container run; the archive itself (569 MB) is not saved here."""
    runtime, _ = RuntimeImage.objects.get_or_create(name="podium/python:3.11")
    runtime = runtime_image_refresh(runtime_image=runtime, archive=False)

    names = {(row["manager"], row["name"]) for row in runtime.packages}
    assert ("dpkg", "python3") in names
    assert ("dpkg", "python3-sklearn") in names
    assert runtime.image_id.startswith("sha256:")


def test_pages_and_api_tell_participants_the_competitions_own_runtime_image(
    alice: Client, member, runtime: RuntimeImage
) -> None:
    # As the qa competition declares it: PyTorch first, the plain Python image besides.
    pytorch, _ = RuntimeImage.objects.get_or_create(name="podium/pytorch:1.13")
    competition = member.team.competition
    competition.runtime_images.add(pytorch)
    competition.default_runtime_image = pytorch
    competition.save(update_fields=["default_runtime_image"])

    for page in ("data", "submit"):
        text = alice.get(reverse(f"competitions:{page}", args=["digits"])).content.decode()
        assert "FROM podium/pytorch:1.13" in text
        assert "FROM podium/python:3.11" not in text
        assert "<code>podium/pytorch:1.13</code> (the default)" in text
    submit = alice.get(reverse("competitions:submit", args=["digits"])).content.decode()
    assert submit.index('<option value="podium/pytorch:1.13"') < submit.index(
        '<option value="podium/python:3.11"'
    )
    detail = alice.get(f"/api/v1/competitions/{competition.slug}/").json()
    assert detail["runtime_images"] == ["podium/pytorch:1.13", "podium/python:3.11"]


def test_a_bundle_makes_its_first_runtime_image_the_default(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", slug="qa-like")
    spec = bundle / "competition.yaml"
    spec.write_text(
        spec.read_text() + "runtime_images: [podium/pytorch:1.13, podium/python:3.11]\n"
    )

    competition, _ = competition_import_bundle(bundle_dir=bundle)

    assert competition.default_runtime_image.name == "podium/pytorch:1.13"
    names = [i.name for i in competition_runtime_images(competition=competition)]
    assert names == ["podium/pytorch:1.13", "podium/python:3.11"]
