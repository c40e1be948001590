"""The Podium Django project: settings, URLs, the Celery app (podium.celery), units.

Importing this package loads nothing else, so that plain modules such as podium.units
serve the Django-free sandbox and scoring kernel. The Celery app is loaded when Django
starts (podium.apps.PodiumConfig.ready) and by `celery -A podium`, which finds
podium.celery.app.
"""
