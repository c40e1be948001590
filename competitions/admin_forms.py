"""The organizer's competition form in the admin: metrics by name and direction, limits in
the units people write, and the data checked (competitions.services.data_checks) before
anything is saved."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from competitions.admin_files import StoredFileInput
from competitions.evaluation.metric import additional_metrics_parse, metric_lookup
from competitions.models import Competition, CompetitionFile
from competitions.services.data_checks import (
    CompetitionDataInvalid,
    DataFile,
    DataReport,
    competition_data_check,
    is_checked,
    local_files,
    slug_problem,
)
from podium.units import (
    duration_text,
    parse_cpus,
    parse_duration,
    parse_size,
    size_text,
)
from scoring.metrics import METRICS, MetricError, UnknownMetric


def metric_choices(current: str | None = None) -> list[tuple[str, str]]:
    """(name, "name: higher is better. Description") for the registry and the
    deployment's custom metrics (PODIUM_METRICS); an unknown current value stays listed
    so that the form shows what is stored."""
    choices = []
    names = [*sorted(METRICS), *sorted(settings.PODIUM_METRICS)]
    for name in names:
        try:
            metric = metric_lookup(name)
        except (UnknownMetric, MetricError):
            continue
        direction = "higher is better" if metric.greater_is_better else "lower is better"
        choices.append((name, f"{name}: {direction}. {metric.description}"))
    if current and current not in {name for name, _ in choices}:
        choices.append((current, f"{current}: not in the registry"))
    return choices


class _TextUnitField(forms.Field):
    """A number typed with its unit; shown back exactly as stored ("8g", "2h")."""

    parse: Any = None
    show: Any = None

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return type(self).show(value)
        return value

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        try:
            return type(self).parse(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class SizeField(_TextUnitField):
    parse = staticmethod(parse_size)
    show = staticmethod(size_text)


class DurationField(_TextUnitField):
    parse = staticmethod(parse_duration)
    show = staticmethod(duration_text)


class CpuField(_TextUnitField):
    parse = staticmethod(parse_cpus)
    show = staticmethod(lambda value: f"{value:g}")


class TargetColumnsField(forms.CharField):
    """Target columns as a plain comma-separated list: "label" or "class_1, class_2"."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(map(str, value))
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        columns = [c.strip() for c in text.split(",") if c.strip()]
        if not columns:
            raise ValidationError("Name at least one target column, e.g. label.")
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ValidationError(f"Each target column once: {', '.join(repeated)} repeated.")
        return columns


class CompetitionAdminForm(forms.ModelForm):
    slug = forms.CharField(
        max_length=64,
        help_text="The competition's address: letters, digits, hyphens and underscores.",
    )
    metric = forms.ChoiceField(
        choices=metric_choices,
        help_text="How submissions are ranked; each says whether higher or lower is better. "
        "Checked against the solution and the sample submission when you save.",
    )
    target_columns = TargetColumnsField(
        help_text="The solution's label column(s), comma-separated: label, or class_a, class_b.",
    )
    memory_limit_bytes = SizeField(
        label="Memory limit", help_text="Like 8g or 512m (binary units: 1g = 1024 MiB)."
    )
    cpu_limit = CpuField(label="CPU limit", help_text="Like 2, 0.5 or 2 CPUs.")
    time_limit_seconds = DurationField(
        label="Time limit", help_text="Per run, like 2h, 90m or 1 h 30 min."
    )
    image_size_limit_bytes = SizeField(
        label="Image size limit", help_text="The largest image archive accepted, like 10g."
    )

    class Meta:
        model = Competition
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.metric if self.instance.pk else None
        cast(forms.ChoiceField, self.fields["metric"]).choices = metric_choices(current)

    def clean_additional_metrics(self) -> list[Any]:
        # An emptied box means none (the column is not nullable).
        return self.cleaned_data.get("additional_metrics") or []

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if (problem := slug_problem(slug)) is not None:
            raise ValidationError(problem)
        return slug

    def full_clean(self) -> None:
        super().full_clean()
        # The file formset checks the data with this instance; a field refused here still
        # holds its old value there and would be reported a second time, wrongly.
        self.instance._admin_refused_fields = frozenset(self.errors)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            # Said here, next to End, instead of the database constraint's own name.
            self.add_error("end", "The end must be after the start.")
        metric = data.get("metric")
        if metric:
            try:
                main = metric_lookup(metric, data.get("metric_params") or {})
            except (UnknownMetric, MetricError) as exc:
                self.add_error("metric_params", str(exc))
            else:
                try:
                    additional_metrics_parse(data.get("additional_metrics"), main=main)
                except (UnknownMetric, MetricError) as exc:
                    self.add_error("additional_metrics", str(exc))
        default, allowed = data.get("default_runtime_image"), data.get("runtime_images")
        if default is not None and allowed is not None and default not in allowed:
            self.add_error(
                "default_runtime_image",
                f"{default.name} is not among the runtime images chosen above: pick one of "
                "them, or add it there.",
            )
        return data


class CompetitionFileForm(forms.ModelForm):
    name = forms.CharField(
        max_length=255,
        required=False,
        help_text="Empty: the uploaded file's name. A path below the folder for several "
        "files (images/1.png).",
    )

    class Meta:
        model = CompetitionFile
        fields = ("kind", "name", "file")
        # The stored file as name and size, linked through the access-checked admin view;
        # never a storage URL (there is none).
        widgets = {"file": StoredFileInput}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("file")
        if not data.get("name") and upload is not None:
            data["name"] = upload.name.rsplit("/", 1)[-1]
        return data


class CompetitionFileFormSet(BaseInlineFormSet):
    """The competition's files as they will be after this save, checked together with the
    competition's settings by the same service that checks a bundle."""

    data_report: DataReport | None = None
    #: The data check's refusals, shown once, at the top of the page (CompetitionAdmin).
    data_problems: list[str]

    def clean(self) -> None:  # noqa: C901 - the files as they will be after this save (new, replaced, kept, deleted) in one pass
        self.data_problems = []
        super().clean()
        if any(self.errors):
            return
        competition: Competition = self.instance
        if getattr(competition, "_admin_refused_fields", None):
            raise ValidationError(
                "The files are checked once the settings marked above are accepted "
                "(choose them again then: a browser does not keep chosen files)."
            )
        stored = {r.pk: r for r in competition.files.all()} if competition.pk else {}
        uploads: list[tuple[str, str, Any]] = []  # new files, as uploaded
        kept: list[tuple[str, str, Any, CompetitionFile | None]] = []  # stored, staying
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data:
                continue
            record = stored.pop(form.instance.pk, None) if form.instance.pk else None
            # _should_delete_form is BaseFormSet's own, missing from django-stubs.
            if self._should_delete_form(form) or data.get("file") is None:  # type: ignore[attr-defined]
                continue
            if "file" in form.changed_data:
                uploads.append((data["kind"], data["name"], data["file"]))
                if record is not None:
                    kept.append((record.kind, record.name, None, record))  # replaced
            elif record is not None:
                kept.append((data["kind"], data["name"], record.file, record))
        kept += [(r.kind, r.name, r.file, r) for r in stored.values()]
        single = {CompetitionFile.Kind.SOLUTION, CompetitionFile.Kind.SAMPLE_SUBMISSION}
        new_keys = {(kind, name) for kind, name, _ in uploads}
        new_kinds = {kind for kind, _, _ in uploads}
        items = list(uploads)
        previous_solution = None
        for kind, name, source, record in kept:
            replaced = source is None or (kind, name) in new_keys
            if replaced or (kind in single and kind in new_kinds):
                if record is not None and record.kind == CompetitionFile.Kind.SOLUTION:
                    previous_solution = record
                continue
            items.append((kind, name, source))
        extra = [(previous_solution.name, previous_solution.file)] if previous_solution else []
        items = [item for item in items if is_checked(item[0], item[1])]
        with local_files([(name, source) for _, name, source in items] + extra) as paths:
            by_kind: dict[str, list[DataFile]] = {}
            for (kind, _, _), path in zip(items, paths, strict=False):
                by_kind.setdefault(kind, []).append(path)
            try:
                self.data_report = competition_data_check(
                    competition=competition,
                    test=by_kind.get(CompetitionFile.Kind.TEST, []),
                    sample_submission=next(
                        iter(by_kind.get(CompetitionFile.Kind.SAMPLE_SUBMISSION, [])), None
                    ),
                    solution=next(iter(by_kind.get(CompetitionFile.Kind.SOLUTION, [])), None),
                    stored_solution=paths[-1] if extra else None,
                )
            except CompetitionDataInvalid as exc:
                # The details go to the top of the page, where the organizer looks after
                # saving; the file rows get a pointer, not a second copy.
                self.data_problems = list(exc.problems)
                raise ValidationError(
                    f"Not saved: the data check found {len(exc.problems)} problem(s) with "
                    "these files, listed at the top of the page."
                ) from exc
