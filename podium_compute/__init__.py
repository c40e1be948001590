"""A compute worker that holds no secrets: runs images in the sandbox for a remote platform.

Never imports Django and never reads the platform's settings. It knows the platform's URL,
its broker and its own capacity (environment variables, :mod:`podium_compute.config`); per
run it receives a dispatch token in the broker message, claims the run over HTTP, fetches
the inputs (cached by checksum), runs the sandbox and posts predictions, usage and log tail.
Start one with ``celery -A podium_compute.celery worker`` (``./podiumctl compute``).
"""
