"""Competitions, their data files, teams and submissions."""

from __future__ import annotations

import secrets
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from competitions.names import name_key

GIB = 2**30


def competition_file_path(instance: CompetitionFile, filename: str) -> str:
    # A random folder per upload: a new version of a file never overwrites the old one
    # while a run may still read it, and names cannot collide.
    return f"competitions/{instance.competition.slug}/{instance.kind}/{uuid.uuid4().hex}/{filename}"


def submission_image_path(instance: Submission, filename: str) -> str:
    suffix = ".tar.gz" if filename.endswith((".gz", ".tgz")) else ".tar"
    if filename.endswith(".zip"):
        suffix = ".zip"
    return f"submissions/{instance.competition.slug}/{uuid.uuid4().hex}{suffix}"


def submission_predictions_path(instance: Submission, filename: str) -> str:
    return f"predictions/{instance.competition.slug}/{instance.pk}-{uuid.uuid4().hex[:8]}.csv"


def new_split_key() -> str:
    """256 random bits, hex: the secret behind a competition's split and debug sample."""
    return secrets.token_hex(32)


class RuntimeImage(models.Model):
    """An image known to the platform that code submissions run on (e.g. podium/python:3.11).

    What it holds (``packages``) and its ``docker save`` archive are read from the engine
    once per image id (competitions.services.runtime_images) and cached here.
    """

    name = models.CharField(
        max_length=200,
        unique=True,
        help_text="The image's tag on the engine, e.g. podium/python:3.11.",
    )
    description = models.CharField(max_length=500, blank=True)
    image_id = models.CharField(max_length=80, blank=True, editable=False)
    packages = models.JSONField(
        default=list, blank=True, editable=False, help_text="[{manager, name, version}]"
    )
    archive_size = models.BigIntegerField(null=True, blank=True, editable=False)
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Competition(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    overview = models.TextField(blank=True, help_text="Markdown.")
    rules = models.TextField(blank=True, help_text="Markdown. Participants accept them to join.")
    start = models.DateTimeField(help_text="UTC.")
    end = models.DateTimeField(help_text="UTC. Later submissions are scored but not ranked.")

    metric = models.CharField(max_length=64, default="accuracy")
    metric_params = models.JSONField(default=dict, blank=True)
    additional_metrics = models.JSONField(
        default=list,
        blank=True,
        help_text="Shown next to the score, never ranked: a list of metric names, e.g. "
        '["qa_exact_match"], or {"name": ..., "params": {...}} entries. Scored on the same '
        "parts as the metric (a rescore fills them in for earlier submissions).",
    )
    id_column = models.CharField(max_length=128, default="id")
    target_columns = models.JSONField(default=list, help_text='For example ["label"].')
    public_fraction = models.FloatField(
        default=0.3, help_text="Share of the test rows on the public leaderboard."
    )
    split_seed = models.IntegerField(
        null=True,
        blank=True,
        default=None,
        help_text="Optional override for a reproducible split: empty = the competition's "
        "secret split key. Whoever knows the seed and the test ids knows the whole split: "
        "keep it secret.",
    )
    # Never shown to participants, kept when data is replaced (see scoring.split).
    split_key = models.CharField(max_length=64, default=new_split_key, editable=False)

    memory_limit_bytes = models.BigIntegerField(default=8 * GIB)
    cpu_limit = models.FloatField(default=2.0)
    gpu_limit = models.PositiveSmallIntegerField(default=0)
    time_limit_seconds = models.PositiveIntegerField(default=2 * 3600)
    image_size_limit_bytes = models.BigIntegerField(default=10 * GIB)

    daily_submission_limit = models.PositiveIntegerField(default=5)
    total_submission_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per team over the whole competition; empty = none."
    )
    debug_daily_limit = models.PositiveIntegerField(
        default=10, help_text="Per team: debug runs a UTC day (they never count otherwise)."
    )
    max_concurrent_runs = models.PositiveIntegerField(
        default=2, help_text="Per team: submissions queued or running at once."
    )
    failed_runs_count = models.BooleanField(
        default=True,
        help_text="Whether a run that failed through the team's fault counts toward the "
        "limits (Kaggle counts them). Platform errors and runs cancelled before they started "
        "never count.",
    )
    max_team_size = models.PositiveIntegerField(default=4)
    merger_deadline = models.DateTimeField(
        null=True, blank=True, help_text="UTC. Last moment for team merges; empty = the end."
    )
    final_selections = models.PositiveIntegerField(default=2)
    runtime_images = models.ManyToManyField(
        RuntimeImage,
        blank=True,
        related_name="competitions",
        help_text="Runtime images code submissions may run on; none = images only.",
    )
    default_runtime_image = models.ForeignKey(
        RuntimeImage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="One of the runtime images: what code runs on when a submission names none, "
        "and what the Data page's example Dockerfile builds FROM. Empty: the first by name.",
    )
    interval_confidence = models.FloatField(
        default=0.95,
        help_text="Confidence level of the intervals shown on the leaderboards (0.5-0.999).",
    )
    interval_resamples = models.PositiveIntegerField(
        default=1000,
        help_text="Bootstrap resamples for metrics without an analytic interval (ROC AUC, "
        "F1, ...); more is steadier and slower. 0 = no intervals.",
    )

    class LogVisibility(models.TextChoices):
        HIDDEN = "hidden", "Hidden (test inputs cannot leak through logs)"
        TAIL = "tail", "Participants see the log tail of their scored runs"

    log_visibility = models.CharField(
        max_length=16, choices=LogVisibility.choices, default=LogVisibility.HIDDEN
    )
    debug_sample_rows = models.PositiveIntegerField(
        default=50, help_text="Public test rows given to debug runs (0 = no debug runs)."
    )

    private_revealed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by the organizer's reveal action."
    )
    published_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Empty while a draft: only staff see a draft (its pages are their preview). "
        "Set by the organizer's publish action, which validates the data first.",
    )
    # An organizer's own compute (Codabench's organizer queues): its runs go only to that
    # queue's hosts, and only they may claim them.
    compute_queue = models.ForeignKey(
        "ComputeQueue",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="competitions",
        help_text="Empty: the platform's shared compute hosts run this competition.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(public_fraction__gte=0) & Q(public_fraction__lte=1),
                name="competition_public_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="competition_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(cpu_limit__gt=0), name="competition_cpu_limit_positive"
            ),
            models.CheckConstraint(
                condition=Q(memory_limit_bytes__gt=0), name="competition_memory_limit_positive"
            ),
            models.CheckConstraint(
                condition=Q(interval_confidence__gte=0.5) & Q(interval_confidence__lte=0.999),
                name="competition_interval_confidence_range",
                violation_error_message="The interval confidence must be between 0.5 and 0.999.",
            ),
        ]

    def __str__(self) -> str:
        # With the slug: two competitions may share a title, and the admin's filters,
        # selects and messages must tell them apart.
        return f"{self.title} ({self.slug})"

    def get_absolute_url(self) -> str:
        return reverse("competitions:detail", kwargs={"slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def is_open(self) -> bool:
        return self.start <= timezone.now() < self.end

    @property
    def has_ended(self) -> bool:
        return timezone.now() >= self.end

    @property
    def private_leaderboard_visible(self) -> bool:
        """Private scores are shown to participants only after the end or a reveal."""
        return self.private_revealed_at is not None or self.has_ended


class CompetitionFile(models.Model):
    class Kind(models.TextChoices):
        TRAIN = "train", "Training data (downloadable, /data/train)"
        TEST = "test", "Test inputs (hidden, /data/test)"
        SOLUTION = "solution", "Solution (hidden labels)"
        SAMPLE_SUBMISSION = "sample_submission", "Sample submission (downloadable)"
        DEBUG_TEST = "debug_test", "Debug test inputs (optional public sample for debug runs)"

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    name = models.CharField(
        max_length=255, help_text="Path below its folder, e.g. train.csv or images/1.png."
    )
    file = models.FileField(upload_to=competition_file_path, max_length=500)
    size = models.BigIntegerField(default=0, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["competition", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["competition", "kind", "name"], name="competitionfile_unique_name"
            ),
            models.UniqueConstraint(
                fields=["competition", "kind"],
                condition=Q(kind__in=["solution", "sample_submission"]),
                name="competitionfile_one_solution_one_sample",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.competition.slug}/{self.kind}/{self.name}"

    @property
    def is_public(self) -> bool:
        return self.kind in (self.Kind.TRAIN, self.Kind.SAMPLE_SUBMISSION)

    @property
    def safe_name(self) -> str:
        """The name as a relative path that cannot climb out of its folder."""
        parts = [p for p in PurePosixPath(self.name).parts if p not in ("", ".", "..", "/")]
        return "/".join(parts) or "file"


class Team(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    # competitions.names.name_key(name): look-alike names share it, and only one may exist.
    name_key = models.CharField(max_length=400, editable=False, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["competition", "name"]
        constraints = [
            models.UniqueConstraint(fields=["competition", "name"], name="team_unique_name"),
            models.UniqueConstraint(
                fields=["competition", "name_key"], name="team_unique_name_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # A derived column, kept here so that every writer (services, admin, fixtures)
        # fills it; the rules about names live in the services.
        self.name_key = name_key(self.name)
        if (fields := kwargs.get("update_fields")) is not None and "name" in fields:
            kwargs["update_fields"] = {*fields, "name_key"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # Forms (the admin's) learn of a look-alike here, not as a database error.
        self.name_key = name_key(self.name)
        if self.competition_id is None:
            return
        other = (
            Team.objects.filter(competition_id=self.competition_id, name_key=self.name_key)
            .exclude(pk=self.pk)
            .first()
        )
        if other is not None:
            raise ValidationError(
                {"name": f"This name looks the same as that of team {other.name!r}."}
            )


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    # Repeats team.competition so the database can hold "one team per user per competition".
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    rules_accepted_at = models.DateTimeField()
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["competition", "user"], name="membership_one_team_per_competition"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Submission(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SCORED = "scored", "Scored"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FailureKind(models.TextChoices):
        NONE = "", "-"
        INVALID_IMAGE = "invalid_image", "Invalid image"
        TIME_LIMIT = "time_limit", "Time limit exceeded"
        MEMORY_LIMIT = "memory_limit", "Memory limit exceeded"
        DISK_LIMIT = "disk_limit", "Disk limit exceeded"
        RUNTIME_ERROR = "runtime_error", "Runtime error"
        NO_PREDICTIONS = "no_predictions", "No predictions"
        INVALID_PREDICTIONS = "invalid_predictions", "Invalid predictions"
        PLATFORM_ERROR = "platform_error", "Platform error (not your fault)"
        INVALID_CODE = "invalid_code", "Invalid code archive"

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        CODE = "code", "Code"

    competition = models.ForeignKey(
        Competition, on_delete=models.CASCADE, related_name="submissions"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="submissions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    description = models.CharField(max_length=500, blank=True)
    is_late = models.BooleanField(
        default=False, help_text="Made after the end: scored, never ranked."
    )
    is_debug = models.BooleanField(
        default=False,
        help_text="Run on a small public sample with full logs: never ranked, never counted.",
    )
    is_selected = models.BooleanField(
        default=False, help_text="Chosen by the team as a final submission."
    )

    # The uploaded artifact: an image archive, or a code archive when kind is code.
    image = models.FileField(upload_to=submission_image_path, max_length=500)
    image_sha256 = models.CharField(max_length=64)
    image_size = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    runtime_image = models.ForeignKey(
        RuntimeImage,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="submissions",
        help_text="What a code submission runs on.",
    )
    rerun_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reruns",
        help_text="The submission whose artifact this one runs again (no re-upload).",
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    failure_kind = models.CharField(
        max_length=32, choices=FailureKind.choices, default=FailureKind.NONE, blank=True
    )
    failure_message = models.TextField(blank=True)
    failure_safe_message = models.TextField(
        blank=True,
        help_text="What the team sees of an invalid predictions file of a scored run: "
        "positions and rules, never the file's content (competitions.run_reports).",
    )
    public_score = models.FloatField(null=True, blank=True)
    private_score = models.FloatField(null=True, blank=True)
    # The competition's additional metrics on each part: {metric name: score or None (not
    # computable on these predictions)}; shown like the scores, never ranked.
    public_additional_scores = models.JSONField(default=dict, blank=True)
    private_additional_scores = models.JSONField(default=dict, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True, help_text="Host that ran it last.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    log_tail = models.TextField(blank=True)
    predictions = models.FileField(
        upload_to=submission_predictions_path, max_length=500, blank=True
    )
    scored_solution_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the solution its scores come from; another than the current "
        "solution's means the scores are stale until a rescore.",
    )
    oom_killed = models.BooleanField(
        default=False, help_text="A process of the run was killed for memory (maybe a child)."
    )
    # The lease of a running submission (competitions.evaluation.transitions): who runs it,
    # when it last said so, and when it is free to be taken back to the queue.
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the broker was last asked to deliver the run (or a delayed delivery is due); a
    # queued run whose delivery is long overdue is enqueued again.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="A retry waits (backoff) until then."
    )
    image_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="The image archive was deleted (retention policy)."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["competition", "status"]),
            models.Index(fields=["team", "created_at"]),
            # The public leaderboard (competitions.leaderboards._public_board): per team, its
            # best ranked public score and the earliest submission with it are seeks here...
            models.Index(
                fields=[
                    "competition",
                    "team",
                    "public_score",
                    "created_at",
                    # Implied by the condition, but SQLite reads the table for them when
                    # the query binds the status as a parameter (as Django does).
                    "status",
                    "is_late",
                    "is_debug",
                ],
                condition=Q(
                    status="scored", is_late=False, is_debug=False, public_score__isnull=False
                ),
                name="submission_lb_best",
            ),
            # ...and its submission count and last submission a range of this one.
            models.Index(
                fields=["competition", "team", "created_at", "status", "is_late", "is_debug"],
                condition=Q(is_late=False, is_debug=False) & ~Q(status="cancelled"),
                name="submission_lb_count",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="failed", failure_kind__gt="")
                | (~Q(status="failed") & Q(failure_kind="")),
                name="submission_failed_iff_failure_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind="image") | Q(runtime_image__isnull=False),
                name="submission_code_has_runtime_image",
            ),
            models.CheckConstraint(
                condition=~Q(status="scored")
                | Q(public_score__isnull=False)
                | Q(private_score__isnull=False)
                | Q(is_debug=True),
                name="submission_scored_has_a_score",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} by {self.team}"

    def get_absolute_url(self) -> str:
        return reverse("competitions:submission", kwargs={"pk": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SCORED, self.Status.FAILED, self.Status.CANCELLED)

    @property
    def status_label(self) -> str:
        """The status in a participant's words: a debug run that finished well was
        validated, not scored against hidden labels, so it reads "Checked"."""
        if self.is_debug and self.status == self.Status.SCORED:
            return "Checked"
        return str(self.get_status_display())


class ComputeQueue(models.Model):
    """An organizer's own compute hosts: the broker queue they serve (``broker_queue``) and
    the secret they authenticate with. Only the secret's SHA-256 is stored; the secret is
    shown once, when it is issued. A revoked queue's hosts are refused at once."""

    name = models.SlugField(
        max_length=48,
        unique=True,
        help_text="Its hosts serve the broker queue org-NAME (PODIUM_COMPUTE_QUEUES=org-NAME).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="compute_queues"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.broker_queue

    @property
    def broker_queue(self) -> str:
        return f"org-{self.name}"


class WorkerHeartbeat(models.Model):
    """A Celery worker process that says, every few seconds, which queues it consumes."""

    name = models.CharField(max_length=255, unique=True)
    queues = models.JSONField(default=list)
    # A compute worker's declared capacity and what it runs (podium_compute: cpus,
    # memory_bytes, gpus, gpu_note, running); empty for a scoring worker.
    capacity = models.JSONField(default=dict, blank=True)
    # The organizer queue whose token the compute host presented; empty: the platform's.
    compute_queue = models.ForeignKey(
        ComputeQueue, null=True, blank=True, on_delete=models.SET_NULL, related_name="hosts"
    )
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.name


class RequestStatus(models.TextChoices):
    """The life of an invitation or a merge request."""

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


class TeamInvitation(models.Model):
    Status = RequestStatus

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "invitee"],
                condition=Q(status="pending"),
                name="invitation_one_pending_per_invitee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.team}"


class TeamMergeRequest(models.Model):
    """A request that `source` joins `target`; the target's members accept it."""

    Status = RequestStatus

    source = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="merge_requests_sent")
    target = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="merge_requests_received"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(source=models.F("target")), name="merge_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.source} into {self.target}"


class AuditRecord(models.Model):
    """What an organizer did to a competition's results (rescore, reveal, ...), and when."""

    class Action(models.TextChoices):
        RESCORE = "rescore", "Rescore"
        REVEAL = "reveal", "Reveal private leaderboard"
        HIDE = "hide", "Hide private leaderboard"
        REQUEUE = "requeue", "Requeue submissions"
        PUBLISH = "publish", "Publish competition"
        OTHER = "other", "Other"

    competition = models.ForeignKey(
        Competition, on_delete=models.CASCADE, related_name="audit_records"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"{self.get_action_display()} of {self.competition} at {self.created_at:%Y-%m-%d %H:%M}"
        )


class UsernameKey(models.Model):
    """The look-alike key of a username (competitions.names.name_key), unique across users.

    Kept beside Django's own user table; rows are written when an account is made
    through the platform and filled in for accounts made elsewhere (admin, shell) the
    next time a name is checked.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="username_key"
    )
    key = models.CharField(max_length=600, unique=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.key})"


class TeamStanding(models.Model):
    """A team's place on its competition's boards, maintained on write (competitions.standings).

    One row per team: the submission that ranks it on the public board (its best public
    score) and on the private board (the best private score among its final submissions),
    its submission count and last submission. ``*_sort`` is the score with its sign
    turned so that ascending is better whatever the metric's direction; reading a page of
    a board is a range of the ``standing_*_rank`` indexes.
    """

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, primary_key=True, related_name="standing"
    )
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="+")
    submissions = models.PositiveIntegerField(default=0)
    last_submission = models.DateTimeField(null=True, blank=True)
    public_submission = models.ForeignKey(
        Submission, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    public_score = models.FloatField(null=True, blank=True)
    public_sort = models.FloatField(null=True, blank=True)
    public_at = models.DateTimeField(null=True, blank=True)
    private_submission = models.ForeignKey(
        Submission, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    private_score = models.FloatField(null=True, blank=True)
    private_sort = models.FloatField(null=True, blank=True)
    private_at = models.DateTimeField(null=True, blank=True)
    # Copies of the ranked submissions' additional scores on each part (shown next to the
    # score, never ranked), so that a board page reads the standings only.
    public_additional_scores = models.JSONField(default=dict, blank=True)
    private_additional_scores = models.JSONField(default=dict, blank=True)
    # The place on each board (1 = first; None: not on it), kept dense by
    # competitions.standings in the transaction that moves it: a page is a range of ranks,
    # and the private board shows each team's public rank without counting.
    public_rank = models.PositiveIntegerField(null=True, blank=True)
    private_rank = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["competition", "public_rank"], name="standing_public_page"),
            models.Index(fields=["competition", "private_rank"], name="standing_private_page"),
            models.Index(
                fields=["competition", "public_sort", "public_at", "public_submission"],
                condition=Q(public_sort__isnull=False),
                name="standing_public_rank",
            ),
            models.Index(
                fields=["competition", "private_sort", "private_at", "private_submission"],
                condition=Q(private_sort__isnull=False),
                name="standing_private_rank",
            ),
        ]

    def __str__(self) -> str:
        return f"Standing of {self.team_id}"


class ScoreInterval(models.Model):
    """A confidence interval of one submission's score on one part (public or private),
    computed by the worker (competitions.evaluation.confidence), and the paired comparison
    with the submission ranked just below it when that was computed."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="intervals")
    part = models.CharField(max_length=8)  # "public" or "private"
    low = models.FloatField()
    high = models.FloatField()
    method = models.CharField(max_length=32, help_text="e.g. wilson, delta, normal, bootstrap.")
    confidence = models.FloatField()
    solution_sha256 = models.CharField(max_length=64, blank=True)
    # The next submission on the board it was compared with, and whether the paired test
    # found no significant difference from it.
    compared_with = models.IntegerField(null=True, blank=True)
    not_significant = models.BooleanField(default=False)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["submission", "part"], name="interval_one_per_part")
        ]

    def __str__(self) -> str:
        return f"{self.part} interval of {self.submission_id}"


class Account(models.Model):
    """A user's settings beside Django's user table, and the case-folded key of the
    address the account was made with (unique, so no two accounts share an e-mail).

    Accounts made before e-mail was required (or outside sign-up) have no row or no key;
    they keep working and get a row when they change their settings.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="podium_account"
    )
    email_key = models.CharField(max_length=254, unique=True, null=True, blank=True)
    email_verified = models.BooleanField(default=False)
    notify_by_email = models.BooleanField(
        default=False,
        help_text="Also send an e-mail when one of my runs finishes or I am invited to a team.",
    )

    def __str__(self) -> str:
        return str(self.user)


class Notification(models.Model):
    """Something that happened to a user: a run they submitted finished, or an invitation.

    Counted on the site's header (the badge) until read; one per user and event.
    """

    class Kind(models.TextChoices):
        RUN_FINISHED = "run_finished", "Run finished"
        INVITATION = "invitation", "Team invitation"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invitation = models.ForeignKey(
        TeamInvitation, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "submission"],
                condition=Q(submission__isnull=False),
                name="notification_one_per_run",
            ),
            models.UniqueConstraint(
                fields=["user", "invitation"],
                condition=Q(invitation__isnull=False),
                name="notification_one_per_invitation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user}"
