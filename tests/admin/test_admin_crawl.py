"""Every page answers, for every role, under the production configuration.

Production (`./podiumctl up`) runs with DEBUG off, MEDIA_URL None and static files
collected by whitenoise; here static files are collected once with Django's manifest
storage (strict), so a template that names a missing static file fails too. Every admin
changelist, add, change, history and delete page of every registered model, every
confirmation page and stored-file link, and every site URL pattern (with the real pks
and slugs of a world holding files) is opened as anonymous, participant, another team
and staff; any 5xx fails (the test client re-raises the exception, with its traceback).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adminworld import ROLES, World
from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from competitions.admin_files import FILE_OWNERS
from competitions.models import RuntimeImage
from uploads.models import Upload

MANIFEST = {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    from django.conf import settings

    storages = {**settings.STORAGES, "staticfiles": MANIFEST}
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", "--no-input", "-v", "0")
    return root


@pytest.fixture
def production(settings: Any, collected_static: Path) -> Iterator[None]:
    """The settings `./podiumctl up` runs with, static files from the manifest."""
    settings.DEBUG = False
    settings.MEDIA_URL = None
    settings.STATIC_ROOT = collected_static
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST}
    cache.clear()  # API throttles start from zero
    yield


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern) == "admin/":
                continue  # crawled through the registered model admins
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _patterns(entry, namespace)
        elif entry.name:
            yield f"{prefix}{entry.name}", entry


def _prepared_runtime_images() -> list[int]:
    """Runtime images whose docker archive is made (a stand-in of 1 KB), so that their
    downloads answer as they do once an organizer refreshed them."""
    folder = Path(settings.PODIUM_RUNTIME_IMAGES_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    pks = []
    for runtime_image in RuntimeImage.objects.all():
        digest = hashlib.sha256(runtime_image.name.encode()).hexdigest()
        (folder / f"{digest}.tar").write_bytes(b"\0" * 1024)
        runtime_image.image_id, runtime_image.archive_size = f"sha256:{digest}", 1024
        runtime_image.save(update_fields=["image_id", "archive_size"])
        pks.append(runtime_image.pk)
    return pks


def _site_urls(world: World) -> list[str]:  # noqa: C901 - a flat table of URL arguments, one loop per row
    """Every named site URL with each real value its arguments can take."""
    subs = [s.pk for s in world.submissions]
    files = list(world.competition.files.values_list("pk", flat=True)) + list(
        world.draft.files.values_list("pk", flat=True)
    )
    slugs = [world.competition.slug, world.draft.slug]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for name in ("competitions:submission", "competitions:submission_status"):
        by_name[name] = [{"pk": pk} for pk in subs]
    for name in ("competitions:submission_cancel", "competitions:submission_select"):
        by_name[name] = [{"pk": pk} for pk in subs]
    for name in ("api-submission", "api-submission-log", "api-submission-cancel"):
        by_name[name] = [{"pk": pk} for pk in subs]
    by_name["api-submission-select"] = [{"pk": pk} for pk in subs]
    for name in ("competitions:submission_rerun", "api-submission-rerun"):
        by_name[name] = [{"pk": pk} for pk in subs]
    by_name["competitions:runtime_image_download"] = [
        {"slug": slug, "pk": pk} for slug in slugs for pk in _prepared_runtime_images()
    ]
    for name in ("competitions:download", "api-competition-file-download"):
        by_name[name] = [{"slug": slug, "pk": pk} for slug in slugs for pk in files]
    invitation, merge = world.invitation.pk, world.merge_request.pk
    for name in ("competitions:team_invitation_cancel", "api-team-invitation-cancel"):
        by_name[name] = [{"slug": world.competition.slug, "pk": invitation}]
    for name in ("competitions:invitation_respond", "api-invitation-respond"):
        by_name[name] = [{"pk": invitation}]
    for name in ("competitions:team_merge_respond", "api-team-merge-request-respond"):
        by_name[name] = [{"slug": world.competition.slug, "pk": merge}]
    by_name["api-upload"] = [{"upload_id": str(u.pk)} for u in Upload.objects.all()]
    by_name["competitions:submission_describe"] = [{"pk": pk} for pk in subs]
    # Mailed links, as a stale or forged one arrives (a valid one would log the crawler in).
    for name in ("password_reset_confirm", "verify_email"):
        by_name[name] = [{"uidb64": "MQ", "token": "not-a-valid-token"}]

    urls: list[str] = []
    for name, pattern in _patterns(get_resolver()):
        arguments = set(pattern.pattern.converters)
        if not arguments:
            urls.append(reverse(name))
        elif name in by_name:
            urls += [reverse(name, kwargs=kwargs) for kwargs in by_name[name]]
        elif arguments == {"slug"}:
            urls += [reverse(name, kwargs={"slug": slug}) for slug in slugs]
        else:
            pytest.fail(f"the crawl has no values for {name} ({sorted(arguments)}): add them")
    return urls


def _admin_urls(world: World) -> list[str]:
    """Changelists, add, change, history and delete pages of every registered model,
    the confirmation pages of every object's actions, and every stored-file link."""
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        urls += [reverse(f"{base}_changelist"), reverse("admin:app_list", args=[opts.app_label])]
        urls.append(reverse(f"{base}_add"))  # 403 where adding is not allowed
        objects = list(model._default_manager.all())
        assert objects or model.__name__ in {"Group", "Permission"}, f"no {opts.model_name}"
        for obj in objects:
            for page in ("change", "history", "delete"):
                urls.append(reverse(f"{base}_{page}", args=[obj.pk]))
            for action in getattr(model_admin, "confirmations", {}):
                urls.append(reverse(f"{base}_confirm", args=[obj.pk, action]))
        urls.append(f"{reverse(f'{base}_changelist')}?q=a&o=1")
    for model in FILE_OWNERS:
        file_fields = [f.name for f in model._meta.fields if f.get_internal_type() == "FileField"]
        for obj in model._default_manager.all():
            for field in file_fields:
                if getattr(obj, field):
                    urls.append(
                        reverse(
                            "admin:competitions_stored_file",
                            kwargs={"model": opts_name(model), "pk": obj.pk, "field": field},
                        )
                    )
    return urls


def opts_name(model: Any) -> str:
    return model._meta.model_name


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_without_a_server_error(
    production: None, world: World, role: str
) -> None:
    client = world.client(role)
    urls = _site_urls(world) + _admin_urls(world)
    assert len(urls) > 100
    statuses: dict[int, int] = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, f"{role}: GET {url} answered {response.status_code}"
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    print(f"\n{role}: {len(urls)} pages, by status {dict(sorted(statuses.items()))}")
    if role == "staff":
        assert statuses.get(200, 0) > 100


def test_staff_see_stored_files_as_name_and_size_with_a_checked_link(
    production: None, world: World
) -> None:
    scored = world.submissions[0]
    client = world.client("staff")
    page = client.get(reverse("admin:competitions_submission_change", args=[scored.pk]))
    assert page.status_code == 200
    link = reverse(
        "admin:competitions_stored_file",
        kwargs={"model": "submission", "pk": scored.pk, "field": "predictions"},
    )
    assert link in page.content.decode()
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"id,label\n1,3\n"

    competition_page = client.get(
        reverse("admin:competitions_competition_change", args=[world.competition.pk])
    )
    assert competition_page.status_code == 200
    solution = world.competition.files.get(kind="solution")
    assert (
        reverse(
            "admin:competitions_stored_file",
            kwargs={"model": "competitionfile", "pk": solution.pk, "field": "file"},
        )
        in competition_page.content.decode()
    )
    # Never a storage URL: there is no MEDIA_URL to build one from.
    assert solution.file.name not in competition_page.content.decode()


@pytest.mark.parametrize("field", ["no_such_field", "description"])
def test_a_stored_file_link_to_a_missing_or_non_file_field_is_404(
    production: None, world: World, field: str
) -> None:
    url = reverse(
        "admin:competitions_stored_file",
        kwargs={"model": "submission", "pk": world.submissions[0].pk, "field": field},
    )
    assert world.client("staff").get(url).status_code == 404


@pytest.mark.parametrize("role", ["anonymous", "participant", "other team"])
def test_stored_file_links_are_not_for_participants(
    production: None, world: World, role: str
) -> None:
    solution = world.competition.files.get(kind="solution")
    for model, pk, field in (
        ("competitionfile", solution.pk, "file"),
        ("submission", world.submissions[0].pk, "image"),
    ):
        url = reverse(
            "admin:competitions_stored_file", kwargs={"model": model, "pk": pk, "field": field}
        )
        response = world.client(role).get(url)
        # The admin sends non-staff to its login page; nothing is streamed.
        assert response.status_code == 302, (role, url)
        assert "/admin/login/" in response["Location"]


def test_stored_file_links_need_the_owning_models_permission(
    production: None, world: World
) -> None:
    from django.contrib.auth.models import Permission
    from django.test import Client
    from factories import UserFactory

    solution = world.competition.files.get(kind="solution")
    url = reverse(
        "admin:competitions_stored_file",
        kwargs={"model": "competitionfile", "pk": solution.pk, "field": "file"},
    )
    clerk = UserFactory(username="clerk", is_staff=True)  # staff, but no permission
    client = Client()
    client.force_login(clerk)
    assert client.get(url).status_code == 404
    clerk.user_permissions.add(Permission.objects.get(codename="view_competition"))
    client.force_login(clerk)  # permissions are cached per user object
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == solution.file.open("rb").read()


def test_the_favicon_is_served_not_logged_as_missing(production: Any) -> None:
    """Browsers ask for /favicon.ico on every page; a 404 there would fill web.log."""
    response = Client().get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)
