"""Competitions defined as a folder of files (see competition.yaml in DESIGN.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils.dateparse import parse_datetime

from competitions.evaluation.metric import additional_metrics_parse, metric_lookup
from competitions.models import Competition, CompetitionFile, RuntimeImage
from competitions.services.data_checks import (
    DataFile,
    DataReport,
    competition_data_check,
    local_files,
)
from competitions.services.files import competition_file_delete, competition_file_store
from competitions.services.publication import competition_publish
from podium.errors import ApplicationError
from podium.units import parse_cpus, parse_duration, parse_size
from scoring.metrics import MetricError, UnknownMetric

LIMIT_FIELDS: dict[str, tuple[str, Callable[[Any], float]]] = {
    "memory": ("memory_limit_bytes", parse_size),
    "cpus": ("cpu_limit", parse_cpus),
    "gpus": ("gpu_limit", int),
    "time": ("time_limit_seconds", parse_duration),
    "image_size": ("image_size_limit_bytes", parse_size),
}
SUBMISSION_FIELDS = {
    "daily_limit": "daily_submission_limit",
    "total_limit": "total_submission_limit",
    "max_concurrent": "max_concurrent_runs",
    "final_selections": "final_selections",
    "max_team_size": "max_team_size",
    "debug_sample_rows": "debug_sample_rows",
}
# submissions: settings that are not whole numbers.
SUBMISSION_OTHER = ("failed_runs_count", "log_visibility", "merger_deadline")


def _datetime(value: Any, key: str) -> dt.datetime:
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ApplicationError(f"competition.yaml: {key} is not a date-time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _text(bundle: Path, value: str | None) -> str:
    """overview/rules may name a markdown file in the bundle or hold the text itself."""
    if not value:
        return ""
    candidate = bundle / value
    if value.endswith((".md", ".txt")) and candidate.is_file():
        return candidate.read_text(encoding="utf-8")
    return value


def _number(spec: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = spec.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        what = "a whole number" if kind is int else "a number"
        raise ApplicationError(f"competition.yaml: {key}: {value!r} is not {what}") from exc


def _fields(bundle: Path, spec: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 - one check per competition.yaml key, each with its own message
    for key in ("slug", "title", "start", "end", "target_columns"):
        if key not in spec:
            raise ApplicationError(f"competition.yaml: {key} is required")
    try:
        main = metric_lookup(spec.get("metric", "accuracy"), spec.get("metric_params") or {})
        additional_metrics_parse(spec.get("additional_metrics"), main=main)
    except (UnknownMetric, MetricError) as exc:
        raise ApplicationError(f"competition.yaml: {exc}") from exc
    fields: dict[str, Any] = {
        "title": spec["title"],
        "overview": _text(bundle, spec.get("overview")),
        "rules": _text(bundle, spec.get("rules")),
        "start": _datetime(spec["start"], "start"),
        "end": _datetime(spec["end"], "end"),
        "metric": spec.get("metric", "accuracy"),
        "metric_params": spec.get("metric_params") or {},
        "additional_metrics": spec.get("additional_metrics") or [],
        "id_column": spec.get("id_column", "id"),
        "target_columns": list(spec["target_columns"]),
        "public_fraction": _number(spec, "public_fraction", float, 0.3),
        # Optional: without it the split uses the competition's secret key.
        "split_seed": (
            None if spec.get("split_seed") is None else _number(spec, "split_seed", int, None)
        ),
    }
    if fields["end"] <= fields["start"]:
        raise ApplicationError("competition.yaml: end must be after start")
    if not 0 <= fields["public_fraction"] <= 1:
        raise ApplicationError("competition.yaml: public_fraction must be between 0 and 1")
    for key, value in (spec.get("limits") or {}).items():
        if key not in LIMIT_FIELDS:
            raise ApplicationError(f"competition.yaml: unknown limit {key!r}")
        name, parse = LIMIT_FIELDS[key]
        try:
            fields[name] = parse(value)
        except (TypeError, ValueError) as exc:
            raise ApplicationError(f"competition.yaml: limits.{key}: {exc}") from exc
        if fields[name] < 0 or (key in ("memory", "cpus", "time") and fields[name] == 0):
            raise ApplicationError(f"competition.yaml: limits.{key} must be above 0")
    submissions = spec.get("submissions") or {}
    for key in submissions:
        if key in SUBMISSION_OTHER:
            fields.update(_other_submission_setting(key, submissions[key], fields))
            continue
        if key not in SUBMISSION_FIELDS:
            raise ApplicationError(f"competition.yaml: unknown submissions setting {key!r}")
        if key == "total_limit" and submissions[key] is None:
            fields["total_submission_limit"] = None
            continue
        fields[SUBMISSION_FIELDS[key]] = _number(submissions, key, int, None)
        if fields[SUBMISSION_FIELDS[key]] < 0:
            raise ApplicationError(f"competition.yaml: submissions.{key} must not be negative")
    return fields


def _other_submission_setting(key: str, value: Any, fields: dict[str, Any]) -> dict[str, Any]:
    if key == "failed_runs_count":
        if not isinstance(value, bool):
            raise ApplicationError(
                f"competition.yaml: submissions.failed_runs_count must be true or false, "
                f"not {value!r}"
            )
        return {"failed_runs_count": value}
    if key == "log_visibility":
        if value not in Competition.LogVisibility.values:
            raise ApplicationError(
                f"competition.yaml: submissions.log_visibility must be one of "
                f"{', '.join(Competition.LogVisibility.values)}, not {value!r}"
            )
        return {"log_visibility": value}
    deadline = None if value is None else _datetime(value, "submissions.merger_deadline")
    if deadline is not None and not fields["start"] <= deadline <= fields["end"]:
        raise ApplicationError(
            "competition.yaml: submissions.merger_deadline must lie between start and end"
        )
    return {"merger_deadline": deadline}


def _bundle_files(bundle: Path, data: dict[str, str]) -> list[tuple[str, str, Path]]:
    """(kind, name, path) for every data file the bundle names."""
    found: list[tuple[str, str, Path]] = []
    for kind in CompetitionFile.Kind.values:
        if kind not in data:
            if kind in (CompetitionFile.Kind.TRAIN, CompetitionFile.Kind.DEBUG_TEST):
                continue
            raise ApplicationError(f"competition.yaml: data.{kind} is required")
        root = bundle.resolve()
        path = (bundle / data[kind]).resolve()
        if root not in path.parents:
            raise ApplicationError(f"competition.yaml: data.{kind} points outside the bundle")
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if not p.is_file() or p.name.startswith("."):
                    continue
                # A symlink could smuggle any file of the organizer's machine into the
                # downloadable training data.
                if root not in p.resolve().parents:
                    raise ApplicationError(
                        f"competition.yaml: data.{kind}: {p.relative_to(bundle)} is a link "
                        "to a file outside the bundle"
                    )
                found.append((kind, p.relative_to(path).as_posix(), p))
        elif path.is_file():
            found.append((kind, path.name, path))
        else:
            raise ApplicationError(f"competition.yaml: data.{kind}: {data[kind]} does not exist")
    return found


def _check(slug: str, fields: dict[str, Any], files: list[tuple[str, str, Path]]) -> DataReport:
    """Check the bundle's data with the same service as the admin, before storing any of
    it; a re-imported solution is compared with the stored one to keep its split."""
    candidate = Competition(slug=slug, **fields)
    by_kind: dict[str, list[DataFile]] = {}
    for kind, name, path in files:
        by_kind.setdefault(kind, []).append(DataFile(name, path))
    stored = (
        CompetitionFile.objects.filter(
            competition__slug=slug, kind=CompetitionFile.Kind.SOLUTION
        ).first()
        if slug
        else None
    )
    with local_files([(stored.name, stored.file)] if stored else []) as previous:
        return competition_data_check(
            competition=candidate,
            test=by_kind.get(CompetitionFile.Kind.TEST, []),
            sample_submission=by_kind[CompetitionFile.Kind.SAMPLE_SUBMISSION][0],
            solution=by_kind[CompetitionFile.Kind.SOLUTION][0],
            stored_solution=previous[0] if previous else None,
            require_all=True,
        )


def _runtime_images(spec: dict[str, Any]) -> list[RuntimeImage] | None:
    """`runtime_images: [podium/python:3.11, ...]`: the images code submissions may run on,
    the first the competition's default (absent: left as they are; an empty list: images
    only). A name the platform does not know yet is added (an organizer builds it on the
    workers)."""
    if "runtime_images" not in spec:
        return None
    names = spec["runtime_images"] or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ApplicationError(
            "competition.yaml: runtime_images must be a list of image names, e.g. "
            "[podium/python:3.11]"
        )
    return [RuntimeImage.objects.get_or_create(name=name.strip())[0] for name in names]


@transaction.atomic
def competition_import_bundle(*, bundle_dir: Path) -> tuple[Competition, bool]:  # noqa: C901 - one transaction whose failure path removes the files it stored
    """Create or update a competition from a bundle; returns it and whether it is new.

    A new competition is a draft (staff only) unless competition.yaml says
    `published: true`, which publishes it after its files are stored (and validated).
    A re-import never unpublishes a published competition.

    The data is checked first (competitions.services.data_checks): any problem raises
    CompetitionDataInvalid, an ApplicationError listing each, and nothing is stored.
    The returned competition carries `data_report` (a DataReport: the rows per part and
    how many stored rows an explicit Usage column moved).
    """
    spec_path = bundle_dir / "competition.yaml"
    if not spec_path.is_file():
        raise ApplicationError(f"{bundle_dir} has no competition.yaml")
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ApplicationError(f"competition.yaml is not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise ApplicationError("competition.yaml must be a mapping of settings (key: value)")
    publish = spec.get("published", False)
    if not isinstance(publish, bool):
        raise ApplicationError("competition.yaml: published must be true or false")
    fields = _fields(bundle_dir, spec)
    runtime_images = _runtime_images(spec)
    files = _bundle_files(bundle_dir, spec.get("data") or {})
    report = _check(str(spec.get("slug") or ""), fields, files)
    competition, created = Competition.objects.update_or_create(
        slug=spec.get("slug"), defaults=fields
    )
    if runtime_images is not None:
        competition.runtime_images.set(runtime_images)
        # The first listed is the default: what the Data page builds FROM, what code runs on.
        competition.default_runtime_image = runtime_images[0] if runtime_images else None
        competition.save(update_fields=["default_runtime_image"])
    keep = {(kind, name) for kind, name, _ in files}
    for old in competition.files.all():
        if (old.kind, old.name) not in keep:
            competition_file_delete(competition_file=old)
    before = set(competition.files.values_list("pk", flat=True))
    added: list[CompetitionFile] = []
    try:
        for kind, name, path in files:
            with path.open("rb") as fh:
                record = competition_file_store(
                    competition=competition, kind=kind, name=name, content=fh
                )
            if record.pk not in before:
                added.append(record)
        if publish and competition.published_at is None:
            # Validates the data; an invalid bundle rolls the whole import back.
            competition_publish(actor=None, competition=competition)
    except BaseException:
        # The transaction forgets the new records; forget their stored files too.
        for record in added:
            record.file.delete(save=False)
        raise
    competition.data_report = report  # type: ignore[attr-defined]
    return competition, created
