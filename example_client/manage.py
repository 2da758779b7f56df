#!/usr/bin/env python
"""``manage.py`` of the example client site: ``CLIENT_ID=wiki CLIENT_PORT=8002 python example_client/manage.py
runserver 127.0.0.1:8002`` (see settings.py for the environment variables)."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_client.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
