#!/bin/sh
# The platform image's entrypoint: one role per container, started with the commands
# `./podiumctl up` and the systemd units use (extra arguments go to that command).
#
#   web       migrate, then gunicorn on PODIUM_BIND (0.0.0.0:8000)
#   scoring   the Celery worker of the platform's side (scoring, housekeeping) with the
#             beat embedded (PODIUM_SCORING_BEAT=0 without it: several scoring workers
#             and one `beat` container)
#   beat      the periodic tasks alone
#   compute   a compute worker (podium_compute): no Django settings, no database, no
#             secret key; runs as root beside the host's Docker socket (see README)
#   manage    python manage.py ARGS (createsuperuser, check --deploy, ...)
#   anything else is run as a command (sh, python, ...)
set -eu

role="${1:-web}"
[ $# -gt 0 ] && shift

case "$role" in
  web)
    python manage.py migrate --no-input -v0
    exec gunicorn podium.wsgi --preload --bind "${PODIUM_BIND:-0.0.0.0:8000}" \
      --workers "${PODIUM_WEB_WORKERS:-2}" --threads 4 --timeout 1800 \
      --access-logfile - --error-logfile - "$@"
    ;;
  scoring)
    beat="-B"
    [ "${PODIUM_SCORING_BEAT:-1}" = 0 ] && beat=""
    # shellcheck disable=SC2086
    exec celery -A podium worker $beat -Q scoring,default \
      --concurrency "${PODIUM_SCORING_CONCURRENCY:-2}" --loglevel INFO "$@"
    ;;
  beat)
    exec celery -A podium beat --loglevel INFO "$@"
    ;;
  compute)
    if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
      echo "compute role: celery -A podium_compute.celery worker, configured by these variables:"
      exec python -c 'import podium_compute.config as c; print(c.__doc__)'
    fi
    # A missing or malformed variable is named in one line, before Celery starts.
    python -c 'import sys
from podium_compute.config import ComputeConfig, ConfigError
try:
    ComputeConfig.from_env()
except ConfigError as exc:
    sys.exit(f"podium compute: {exc} (docker run IMAGE compute --help lists them)")'
    # The worker tells a crashed worker's leftovers (containers, mounted /output) from live
    # runs by their owner's pid in /proc: in a PID namespace of its own it would take every
    # other worker's runs on the engine for leftovers and remove them.
    if [ "$(cat /proc/1/comm 2>/dev/null)" = tini ]; then
      echo "podium compute: run this container in the host's PID namespace (docker run" \
        "--pid host; compose: pid: host), see README \"The platform image\"" >&2
      exit 2
    fi
    # A compute host holds none of the platform's secrets: never pass them on.
    exec env -u DATABASE_URL -u DJANGO_SECRET_KEY -u PODIUM_HOME \
      celery -A podium_compute.celery worker --loglevel INFO --without-mingle --without-gossip "$@"
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
