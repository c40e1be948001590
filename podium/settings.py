"""Settings, read from environment variables: every variable is read here and only here.

Defaults are for one machine with nothing to install: SQLite and Celery's filesystem
transport under PODIUM_HOME. With DJANGO_DEBUG=0 (production), DJANGO_SECRET_KEY and
DJANGO_ALLOWED_HOSTS have no default and the process refuses to start without them.
Importing this module has no side effect: the folders under PODIUM_HOME are created at
start-up (podium.apps.PodiumConfig.ready).
"""

from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class Env(environ.Env):
    """django-environ's reader, with two rules of this project: a variable set to the
    empty string counts as unset (`VAR= cmd` means "the default"), and list items are
    trimmed with blanks dropped ("a, ,b," is ["a", "b"]). Cache URLs are limited to the
    backends Podium supports (file:// and locmem:// are read as filecache:// and
    locmemcache://, below)."""

    CACHE_SCHEMES = {
        "filecache": "django.core.cache.backends.filebased.FileBasedCache",
        "locmemcache": "django.core.cache.backends.locmem.LocMemCache",
        "redis": "django.core.cache.backends.redis.RedisCache",
        "rediss": "django.core.cache.backends.redis.RedisCache",
        "rediscache": "django.core.cache.backends.redis.RedisCache",
    }

    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        if not str(self.ENVIRON.get(var, "")).strip():
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the environment variable {var}.")
            return self.parse_value(default, cast) if parse_default else default
        value = super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        if isinstance(value, list):
            value = [item.strip() for item in value if item.strip()]
        return value


env = Env()

PODIUM_HOME = Path(env.str("PODIUM_HOME", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DJANGO_DEBUG", default=True)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

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
    "podium",
    "competitions",
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
    # A file storage outage answers 503 naming the platform, not a bare 500.
    "podium.middleware.StorageUnavailableMiddleware",
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
                "competitions.context_processors.notifications",
            ],
        },
    },
]

WSGI_APPLICATION = "podium.wsgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{PODIUM_HOME / 'db.sqlite3'}")
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
# Where collectstatic puts the files whitenoise serves; the platform image collects them
# into the image (/opt/podium/staticfiles), outside the PODIUM_HOME volume.
STATIC_ROOT = Path(env.str("PODIUM_STATIC_ROOT", default=str(PODIUM_HOME / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded images, competition data, solutions and kept predictions. Never served as
# static media: every download goes through a view that checks access.
MEDIA_ROOT = PODIUM_HOME / "media"
MEDIA_URL = None
# Where those files live (podium.storage): "local" (MEDIA_ROOT, one machine or a shared file
# system) or "s3", an S3-compatible bucket shared by web and scoring workers (django-storages;
# objects private, URLs signed). Keys left empty: boto3's own chain (AWS_* variables, the
# instance's role). Addressing "path" for servers such as MinIO on a plain host name.
PODIUM_STORAGE = env.str("PODIUM_STORAGE", default="local")
if PODIUM_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "podium.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env.str("PODIUM_S3_BUCKET"),
            "endpoint_url": env.str("PODIUM_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("PODIUM_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("PODIUM_S3_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("PODIUM_S3_REGION", default="") or None,
            "location": env.str("PODIUM_S3_PREFIX", default="").strip("/"),
            "addressing_style": env.str("PODIUM_S3_ADDRESSING_STYLE", default="") or None,
            "signature_version": "s3v4",
        },
    }
elif PODIUM_STORAGE != "local":
    raise ImproperlyConfigured(f"PODIUM_STORAGE={PODIUM_STORAGE!r}: use local or s3.")
# Large uploads stream to a temporary file, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(PODIUM_HOME / "tmp")
# Stored files (hidden solutions, test inputs, participants' images) are the owner's alone,
# whatever the process's umask: no other user of the host reads them (podium.permissions).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Django's own handlers with the client's file name bounded (a long one was a 500).
FILE_UPLOAD_HANDLERS = [
    "podium.uploadhandlers.BoundedNameMemoryFileUploadHandler",
    "podium.uploadhandlers.BoundedNameTemporaryFileUploadHandler",
]

# --- Accounts and transport (issue 10) ------------------------------------------------------
# Reverse proxies in front of the web server that append to X-Forwarded-For (0: none; the
# header is then ignored). Only these hops are believed: see podium.clients.
PODIUM_TRUSTED_PROXIES = env.int("PODIUM_TRUSTED_PROXIES", default=0)
# The cache every web process shares (cached leaderboards; rate-limit counters when it is
# Redis, else they live in the database: see podium.throttling). A
# local-memory cache is per process (gunicorn runs several), so the default is files under
# PODIUM_HOME; PODIUM_CACHE_URL: file:///path, redis://host:6379/0, or locmem://.
_cache_url = env.str("PODIUM_CACHE_URL", default=f"file://{PODIUM_HOME / 'cache'}")
# django-environ's names for the two short forms (its "file" scheme would drop the path).
_cache_env_url = _cache_url
for _short, _long in (("file://", "filecache://"), ("locmem://", "locmemcache://")):
    if _cache_url.startswith(_short):
        _cache_env_url = _long + _cache_url.removeprefix(_short)
try:
    CACHES = {"default": env.cache_url_config(_cache_env_url)}
except ImproperlyConfigured:
    raise ImproperlyConfigured(
        f"PODIUM_CACHE_URL={_cache_url!r}: use file:///path, redis://host:port/db or locmem://."
    ) from None
if CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
    CACHES["default"]["OPTIONS"] = {"MAX_ENTRIES": 10000}
# Login attempts (django-axes, in the database every process shares): an account, and
# separately an address, is locked for AXES_COOLOFF_TIME after AXES_FAILURE_LIMIT failures;
# while locked even the right password is refused.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("PODIUM_LOGIN_FAILURE_LIMIT", default=40)
AXES_COOLOFF_TIME = env.float("PODIUM_LOGIN_LOCKOUT_HOURS", default=0.25)
# Per account only: a per-address lock after 40 failures would lock out everyone behind
# one NAT or proxy (a classroom, a lab). An address gets a much higher ceiling of its own
# (PODIUM_LOGIN_ADDRESS_FAILURES, counted by podium.throttling; see the README's threat model).
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 warns that without "ip_address" rotating user agents or cookies bypasses a
# lock; keyed on the username alone, nothing a client sends unlocks the account.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "podium.clients.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Every failed login is kept (up to axes' per-user cap) for the organizers' admin pages.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Rate limits, written "N/second|minute|hour|day", counted atomically by podium.throttling:
# failed logins per client address (all accounts together), sign-up attempts per client
# address, invitations sent per user.
PODIUM_LOGIN_ADDRESS_FAILURES = env.str("PODIUM_LOGIN_ADDRESS_FAILURES", default="400/hour")
PODIUM_SIGNUP_RATE = env.str("PODIUM_SIGNUP_RATE", default="20/hour")
PODIUM_INVITATION_RATE = env.str("PODIUM_INVITATION_RATE", default="50/day")
# A scored run's end (status, result, finish time) reaches its team only at the next
# multiple of this many seconds after the run's start, so the moment a run chooses to end
# carries at most log2(time limit / quantum) bits (competitions.run_reports). 0: at once.
PODIUM_RESULT_RELEASE_QUANTUM_SECONDS = env.int("PODIUM_RESULT_RELEASE_QUANTUM_SECONDS", default=60)
# HTTPS (PODIUM_HTTPS=1, production only): Secure cookies, HSTS, and HTTP redirected to
# HTTPS. Behind a trusted proxy that terminates TLS, its X-Forwarded-Proto says the scheme.
PODIUM_HTTPS = env.bool("PODIUM_HTTPS", default=False) and not DEBUG
if PODIUM_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env.int("PODIUM_HSTS_SECONDS", default=365 * 24 * 3600)
    if PODIUM_TRUSTED_PROXIES > 0:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy (django-csp) on every response: scripts and styles only from this
# server's own files, nothing inline; the API docs pages relax styles (podium/urls.py).
MIDDLEWARE.append("csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# --- end accounts and transport ----------------------------------------------------------

# --- E-mail and accounts (issue 16) ----------------------------------------------------------
# Outgoing mail (password resets, notifications) through Django's e-mail backend, chosen by
# EMAIL_URL (django-environ): filemail:///path (the default: one file per message under
# PODIUM_HOME/mail), consolemail:// (printed by the web process), or
# smtp+tls://user:password@host:587 (STARTTLS) or smtp+ssl://...:465 for a real server.
PODIUM_MAIL_DIR = PODIUM_HOME / "mail"
_email = env.email_url("EMAIL_URL", default=f"filemail://{PODIUM_MAIL_DIR}")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
if EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    # django-environ drops the leading "/" of filemail:///abs/path.
    EMAIL_FILE_PATH = "/" + str(_email.get("EMAIL_FILE_PATH") or PODIUM_MAIL_DIR).lstrip("/")
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env.str("PODIUM_EMAIL_FROM", default="Podium <podium@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# 1: a new account stays inactive until its owner opens the link mailed to its address;
# sign-up then answers the same for a new and for a taken address (see README, Accounts).
PODIUM_EMAIL_VERIFICATION = env.bool("PODIUM_EMAIL_VERIFICATION", default=False)
# Links in e-mails sent outside a request (notifications): this site's base URL.
PODIUM_SITE_URL = env.str("PODIUM_SITE_URL", default="http://localhost:8000").rstrip("/")
PASSWORD_RESET_TIMEOUT = env.int("PODIUM_PASSWORD_RESET_SECONDS", default=3 * 24 * 3600)
# --- end e-mail and accounts ---------------------------------------------------------------

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
    # Keyed on podium.clients.client_address: X-Forwarded-For counts only through
    # PODIUM_TRUSTED_PROXIES; counted atomically by podium.throttling (in Redis when
    # PODIUM_CACHE_URL is redis://, else in the database).
    "DEFAULT_THROTTLE_CLASSES": ["podium.clients.AnonThrottle", "podium.clients.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("PODIUM_API_THROTTLE_ANON", default="300/minute"),
        "user": env.str("PODIUM_API_THROTTLE_USER", default="3000/minute"),
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
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
# How often an idle worker lists the filesystem broker's folder (seconds; kombu's default
# 1 s makes each run wait half a second on average for its worker). Do not lower it: kombu's
# filesystem transport creates a message file before writing it, and a reader that renames
# it in between reads it empty and its consumer fails (celery/kombu#1551); polling ten
# times a second made that happen within 20 runs. Redis and AMQP push messages instead.
PODIUM_BROKER_POLLING_SECONDS = env.float("PODIUM_BROKER_POLLING_SECONDS", default=1.0)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # podium.broker's transport (whole-file writes, claims by rename; podium.celery
    # registers it): the processed folder must stay on the queue folder's file system.
    _broker_dir = PODIUM_HOME / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": PODIUM_BROKER_POLLING_SECONDS,
    }
# Redis (redis://, rediss://): a message a worker took but did not acknowledge (acks_late:
# not before its run ended) is handed out again after this many seconds. It must exceed the
# longest retry backoff (600 s), or a delayed retry held by a worker is handed out again and
# again; a run longer than it gets a second delivery, which the claim guard skips. A worker
# killed mid-run does not wait for it: the run's lease expires and the reaper enqueues it.
PODIUM_BROKER_VISIBILITY_TIMEOUT = env.float("PODIUM_BROKER_VISIBILITY_TIMEOUT", default=3600.0)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": PODIUM_BROKER_VISIBILITY_TIMEOUT}
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
PODIUM_LEASE_SECONDS = env.float("PODIUM_LEASE_SECONDS", default=120.0)
PODIUM_LEASE_RENEW_SECONDS = env.float(
    "PODIUM_LEASE_RENEW_SECONDS", default=PODIUM_LEASE_SECONDS / 4
)
PODIUM_REQUEUE_AFTER_SECONDS = env.float("PODIUM_REQUEUE_AFTER_SECONDS", default=600.0)
# First wait before a retry of a platform fault; doubled per attempt, at most 10 minutes.
PODIUM_RETRY_BACKOFF_SECONDS = env.float("PODIUM_RETRY_BACKOFF_SECONDS", default=15.0)
PODIUM_HOUSEKEEPING_SECONDS = env.float("PODIUM_HOUSEKEEPING_SECONDS", default=60.0)
# Each worker writes a heartbeat row this often; the queue page reads it.
PODIUM_WORKER_HEARTBEAT_SECONDS = env.float("PODIUM_WORKER_HEARTBEAT_SECONDS", default=10.0)
# Uploaded image archives are deleted this many days after their run finished (0: at once);
# a run that failed through the platform's fault keeps its archive for a requeue.
PODIUM_IMAGE_RETENTION_DAYS = env.float("PODIUM_IMAGE_RETENTION_DAYS", default=0.0)
# Code submissions (issue 16): archive bounds (bytes, members) checked before extraction, how
# long a code archive is kept after its run (days; small, so kept for re-runs by default),
# and where runtime images' `docker save` archives are cached (one per image id).
PODIUM_CODE_ARCHIVE_MAX_BYTES = env.int("PODIUM_CODE_ARCHIVE_MAX_BYTES", default=100 * 2**20)
PODIUM_CODE_UNPACKED_MAX_BYTES = env.int("PODIUM_CODE_UNPACKED_MAX_BYTES", default=1 * 2**30)
PODIUM_CODE_MAX_MEMBERS = env.int("PODIUM_CODE_MAX_MEMBERS", default=10_000)
PODIUM_CODE_RETENTION_DAYS = env.float("PODIUM_CODE_RETENTION_DAYS", default=30.0)
PODIUM_RUNTIME_IMAGES_DIR = PODIUM_HOME / "runtime-images"
# Per submission: the kept predictions file and the kept log tail, in bytes.
PODIUM_KEPT_PREDICTIONS_MAX_BYTES = env.int(
    "PODIUM_KEPT_PREDICTIONS_MAX_BYTES", default=256 * 2**20
)
PODIUM_LOG_TAIL_BYTES = env.int("PODIUM_LOG_TAIL_BYTES", default=64 * 2**10)
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "housekeeping": {
        "task": "scoring.housekeeping",
        "schedule": PODIUM_HOUSEKEEPING_SECONDS,
        # A worker busy with a long run takes it late; stale copies are dropped, not piled up.
        "options": {"queue": "scoring", "expires": PODIUM_HOUSEKEEPING_SECONDS},
    }
}
CELERY_BEAT_SCHEDULE_FILENAME = str(PODIUM_HOME / "celerybeat-schedule")

# --- Remote compute (issue 15) ---------------------------------------------------------------
# Off (the default): the scoring worker runs each image itself, as on one machine. On: runs go
# to compute workers (podium_compute: no database, no secrets, never the solution) through the
# broker queue PODIUM_COMPUTE_QUEUE; they fetch inputs from /compute/v1/ and post outcomes,
# which a scoring worker records. A dispatch token (in the broker message) lets a worker claim
# its run for PODIUM_COMPUTE_DISPATCH_SECONDS; the lease token it gets is valid while the
# lease is held, at most the run's time limit plus PODIUM_COMPUTE_LEASE_GRACE_SECONDS. A posted
# outcome waits for a scoring worker for PODIUM_SCORING_LEASE_SECONDS before the run is
# taken back and run again.
PODIUM_COMPUTE_REMOTE = env.bool("PODIUM_COMPUTE_REMOTE", default=False)
# Runs without GPUs go to PODIUM_COMPUTE_QUEUE, runs with GPUs to "<that>-gpu" (served only
# by compute workers whose GPU probe passed); a competition may have a queue of its own
# ("slug=queue,slug2=queue2": e.g. an organizer's own compute hosts).
PODIUM_COMPUTE_QUEUE = env.str("PODIUM_COMPUTE_QUEUE", default="compute")
PODIUM_COMPUTE_COMPETITION_QUEUES: dict[str, str] = env.dict(
    "PODIUM_COMPUTE_COMPETITION_QUEUES", default={}
)
# The token compute workers send with their heartbeat (capacity, what they run) for the
# queue page; empty: their heartbeats are refused. It opens nothing else.
PODIUM_COMPUTE_HOST_TOKEN = env.str("PODIUM_COMPUTE_HOST_TOKEN", default="")
PODIUM_COMPUTE_DISPATCH_SECONDS = env.int("PODIUM_COMPUTE_DISPATCH_SECONDS", default=7 * 86400)
PODIUM_COMPUTE_LEASE_GRACE_SECONDS = env.int("PODIUM_COMPUTE_LEASE_GRACE_SECONDS", default=3600)
PODIUM_SCORING_LEASE_SECONDS = env.float("PODIUM_SCORING_LEASE_SECONDS", default=3600.0)
# --- end remote compute --------------------------------------------------------------------

# Where the scoring worker keeps unpacked competition data and per-run output folders.
PODIUM_WORK_DIR = PODIUM_HOME / "work"
# How often a platform fault (Docker engine unreachable, ...) is retried before giving up.
PODIUM_PLATFORM_RETRIES = env.int("PODIUM_PLATFORM_RETRIES", default=5)

# The leaderboard cache (invalidated whenever a score changes), in seconds (0: not cached),
# and how many leading entries get a bootstrap confidence interval (0: none).

# Logs: the console, and a file under PODIUM_HOME/logs: web.log for the web processes,
# worker.log for Celery workers (podium/celery.py points the "file" handler there).
# Unhandled errors of a request (django.request) and of a task (celery.app.trace) reach
# the root logger with their traceback. WatchedFileHandler reopens a file logrotate moved.
PODIUM_LOG_DIR = PODIUM_HOME / "logs"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(PODIUM_LOG_DIR / "web.log"),
            "formatter": "plain",
            "delay": True,
        },
    },
    "root": {
        "handlers": ["console", "file"],
        "level": env.str("PODIUM_LOG_LEVEL", default="INFO"),
    },
}

# Resumable uploads (the uploads app). Chunks are written into a file under UPLOADS_DIR, on
# the same file system as MEDIA_ROOT, so a finished upload is moved (not copied) into
# storage. Unfinished or unused uploads are deleted after UPLOAD_EXPIRY_SECONDS.
UPLOADS_DIR = PODIUM_HOME / "uploads"
UPLOAD_CHUNK_SIZE = env.int("PODIUM_UPLOAD_CHUNK_SIZE", default=8 * 1024 * 1024)
UPLOAD_MAX_CHUNK_SIZE = 64 * 1024 * 1024
UPLOAD_EXPIRY_SECONDS = 24 * 3600
# Per user: at most this many open (unfinished or unsubmitted) uploads, of at most this many
# declared bytes together; a new upload over either is refused before any byte is sent.
UPLOAD_MAX_OPEN = env.int("PODIUM_UPLOAD_MAX_OPEN", default=3)
UPLOAD_MAX_OPEN_BYTES = env.int("PODIUM_UPLOAD_MAX_OPEN_BYTES", default=30 * 2**30)
# Stray files in UPLOADS_DIR and FILE_UPLOAD_TEMP_DIR unchanged for this long are deleted by
# the periodic purge; it must exceed the web server's request timeout (podiumctl: 1800 s).
UPLOAD_TEMP_GRACE_SECONDS = env.int("PODIUM_UPLOAD_TEMP_GRACE_SECONDS", default=7200)
CELERY_BEAT_SCHEDULE["throttle-purge"] = {
    "task": "podium.throttle_purge",
    "schedule": 3600.0,
    "options": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE["uploads-purge"] = {
    "task": "uploads.purge",
    "schedule": env.float("PODIUM_UPLOAD_PURGE_SECONDS", default=3600.0),
    "options": {"queue": "default"},
}

# The API docs pages (/api/docs/, /api/redoc/) serve Swagger UI and Redoc as static files.
INSTALLED_APPS += ["drf_spectacular_sidecar"]

# --- Sandbox (issue 3) -------------------------------------------------------------------
# GPU ids this worker may hand out ("0,1"); empty: ask nvidia-smi, none if it is absent.
PODIUM_GPU_IDS = env.str("PODIUM_GPU_IDS", default="")
# Lock files that keep two runs (of any worker process on this host) off one GPU.
PODIUM_GPU_LOCK_DIR = Path(env.str("PODIUM_GPU_LOCK_DIR", default="/run/lock/podium-gpus"))
# Another OCI runtime registered with the engine for participant runs (e.g. "runsc").
PODIUM_SANDBOX_RUNTIME = env.str("PODIUM_SANDBOX_RUNTIME", default="") or None
# Size of each run's /output and /tmp file systems (loop-mounted ext4 images, on disk).
PODIUM_SANDBOX_OUTPUT_BYTES = env.int("PODIUM_SANDBOX_OUTPUT_BYTES", default=2 * 2**30)
PODIUM_SANDBOX_TMP_BYTES = env.int("PODIUM_SANDBOX_TMP_BYTES", default=2 * 2**30)
# --- end sandbox ---------------------------------------------------------------------------

# Custom metrics beside the built-in registry: a JSON object of name -> "module:function"
# (entry points in the group "podium.metrics" are found as well). See scoring/metrics.py.
PODIUM_METRICS = env.json("PODIUM_METRICS", default={})
