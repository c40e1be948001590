"""Settings, read from environment variables.

Defaults are for one machine with nothing to install: SQLite and Celery's filesystem
transport under PODIUM_HOME. With DJANGO_DEBUG=0 (production), DJANGO_SECRET_KEY and
DJANGO_ALLOWED_HOSTS have no default and the process refuses to start without them.
"""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


PODIUM_HOME = Path(os.environ.get("PODIUM_HOME", BASE_DIR / "var")).resolve()

DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "competitions",
    "scoring",
    "uploads",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "podium.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "podium.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{PODIUM_HOME / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: WAL lets readers go on while one
    # writes, IMMEDIATE transactions take the write lock up front instead of failing
    # half-way, and the timeout makes a writer wait for the lock rather than error.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(PODIUM_HOME / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = PODIUM_HOME / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded images, competition data, solutions and kept predictions. Never served as
# static media: every download goes through a view that checks access.
MEDIA_ROOT = PODIUM_HOME / "media"
MEDIA_URL = None
# Large uploads stream to a temporary file, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(PODIUM_HOME / "tmp")
FILE_UPLOAD_PERMISSIONS = 0o640

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "competitions:list"
LOGOUT_REDIRECT_URL = "competitions:list"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "podium.api.exception_handler",
    # Per client: anonymous callers by address, signed-in ones by user. Generous enough
    # for a script that polls a run every few seconds; a flood answers 429.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("PODIUM_API_THROTTLE_ANON", "300/minute"),
        "user": os.environ.get("PODIUM_API_THROTTLE_USER", "3000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Podium API",
    "DESCRIPTION": (
        "Competitions, data files, teams, submissions and leaderboards. Authenticate with "
        "`Authorization: Token KEY` (your token: GET /api/v1/account/token/ when signed in). "
        "The `podium` command-line client (pip install ./cli) wraps this API."
    ),
    "VERSION": "1",
    # The docs pages load Swagger UI and Redoc from this server, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SubmissionStatusEnum": "competitions.models.Submission.Status",
        "RequestStatusEnum": "competitions.models.TeamInvitation.Status",
    },
}

# Celery. The default broker is kombu's filesystem transport: no server to install.
# "localhost" means nothing to the filesystem transport; it only keeps kombu from warning.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = PODIUM_HOME / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A run is long and must not be lost when a worker dies: acknowledge after it finished,
# take one at a time. The service's state guard makes a second delivery harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The scoring queue is the default queue: a plain `celery -A podium worker` (no -Q) consumes it.
CELERY_TASK_DEFAULT_QUEUE = "scoring"
CELERY_TASK_ROUTES = {"scoring.*": {"queue": "scoring"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic housekeeping (celery beat, embedded in the worker with -B by `podiumctl up`).
# Each entry: "name": {"task": "<task name>", "schedule": seconds, "options": {"queue": ...}}.
# Leases of running submissions (competitions/evaluation): a worker renews its run's lease
# every PODIUM_LEASE_RENEW_SECONDS; a lease not renewed for PODIUM_LEASE_SECONDS is expired
# and the run goes back to the queue. A queued run whose broker delivery is overdue by
# PODIUM_REQUEUE_AFTER_SECONDS is enqueued again (a second delivery is harmless).
PODIUM_LEASE_SECONDS = float(os.environ.get("PODIUM_LEASE_SECONDS", "120"))
PODIUM_LEASE_RENEW_SECONDS = float(
    os.environ.get("PODIUM_LEASE_RENEW_SECONDS", str(PODIUM_LEASE_SECONDS / 4))
)
PODIUM_REQUEUE_AFTER_SECONDS = float(os.environ.get("PODIUM_REQUEUE_AFTER_SECONDS", "600"))
# First wait before a retry of a platform fault; doubled per attempt, at most 10 minutes.
PODIUM_RETRY_BACKOFF_SECONDS = float(os.environ.get("PODIUM_RETRY_BACKOFF_SECONDS", "15"))
PODIUM_HOUSEKEEPING_SECONDS = float(os.environ.get("PODIUM_HOUSEKEEPING_SECONDS", "60"))
# Each worker writes a heartbeat row this often; the queue page reads it.
PODIUM_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("PODIUM_WORKER_HEARTBEAT_SECONDS", "10"))
# Uploaded image archives are deleted this many days after their run finished (0: at once);
# a run that failed through the platform's fault keeps its archive for a requeue.
PODIUM_IMAGE_RETENTION_DAYS = float(os.environ.get("PODIUM_IMAGE_RETENTION_DAYS", "0"))
# Per submission: the kept predictions file and the kept log tail, in bytes.
PODIUM_KEPT_PREDICTIONS_MAX_BYTES = int(
    os.environ.get("PODIUM_KEPT_PREDICTIONS_MAX_BYTES", str(256 * 2**20))
)
PODIUM_LOG_TAIL_BYTES = int(os.environ.get("PODIUM_LOG_TAIL_BYTES", str(64 * 2**10)))
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "housekeeping": {
        "task": "scoring.housekeeping",
        "schedule": PODIUM_HOUSEKEEPING_SECONDS,
        # A worker busy with a long run takes it late; stale copies are dropped, not piled up.
        "options": {"queue": "scoring", "expires": PODIUM_HOUSEKEEPING_SECONDS},
    }
}
CELERY_BEAT_SCHEDULE_FILENAME = str(PODIUM_HOME / "celerybeat-schedule")

# Where the scoring worker keeps unpacked competition data and per-run output folders.
PODIUM_WORK_DIR = PODIUM_HOME / "work"
# How often a platform fault (Docker engine unreachable, ...) is retried before giving up.
PODIUM_PLATFORM_RETRIES = int(os.environ.get("PODIUM_PLATFORM_RETRIES", "5"))

for _dir in (PODIUM_HOME, MEDIA_ROOT, STATIC_ROOT, Path(FILE_UPLOAD_TEMP_DIR), PODIUM_WORK_DIR):
    _dir.mkdir(parents=True, exist_ok=True)
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _dir in ("queue", "processed", "control"):
        (PODIUM_HOME / "broker" / _dir).mkdir(parents=True, exist_ok=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PODIUM_LOG_LEVEL", "INFO")},
}

# Resumable uploads (the uploads app). Chunks are written into a file under UPLOADS_DIR, on
# the same file system as MEDIA_ROOT, so a finished upload is moved (not copied) into
# storage. Unfinished or unused uploads are deleted after UPLOAD_EXPIRY_SECONDS.
UPLOADS_DIR = PODIUM_HOME / "uploads"
UPLOAD_CHUNK_SIZE = int(os.environ.get("PODIUM_UPLOAD_CHUNK_SIZE", str(8 * 1024 * 1024)))
UPLOAD_MAX_CHUNK_SIZE = 64 * 1024 * 1024
UPLOAD_EXPIRY_SECONDS = 24 * 3600
UPLOADS_DIR.mkdir(parents=True, exist_ok=True)

# The API docs pages (/api/docs/, /api/redoc/) serve Swagger UI and Redoc as static files.
INSTALLED_APPS += ["drf_spectacular_sidecar"]

# --- Sandbox (issue 3) -------------------------------------------------------------------
# GPU ids this worker may hand out ("0,1"); empty: ask nvidia-smi, none if it is absent.
PODIUM_GPU_IDS = os.environ.get("PODIUM_GPU_IDS", "")
# Lock files that keep two runs (of any worker process on this host) off one GPU.
PODIUM_GPU_LOCK_DIR = Path(os.environ.get("PODIUM_GPU_LOCK_DIR", "/run/lock/podium-gpus"))
# Another OCI runtime registered with the engine for participant runs (e.g. "runsc").
PODIUM_SANDBOX_RUNTIME = os.environ.get("PODIUM_SANDBOX_RUNTIME", "") or None
# Size of each run's /output and /tmp file systems (loop-mounted ext4 images, on disk).
PODIUM_SANDBOX_OUTPUT_BYTES = int(os.environ.get("PODIUM_SANDBOX_OUTPUT_BYTES", str(2 * 2**30)))
PODIUM_SANDBOX_TMP_BYTES = int(os.environ.get("PODIUM_SANDBOX_TMP_BYTES", str(2 * 2**30)))
# --- end sandbox ---------------------------------------------------------------------------

# Custom metrics beside the built-in registry: a JSON object of name -> "module:function"
# (entry points in the group "podium.metrics" are found as well). See scoring/metrics.py.
PODIUM_METRICS = json.loads(os.environ.get("PODIUM_METRICS", "{}"))
