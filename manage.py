#!/usr/bin/env python
"""Django's command-line utility for Podium."""

import os
import sys

from podium.permissions import use_private_umask


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
    from django.core.management import execute_from_command_line

    # The database migrate creates, imported data, collected files: owner-only.
    use_private_umask()

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
