#!/usr/bin/env python
"""Django's manage.py for the Polaris side by side project; run it with the Polaris venv's python."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polaris_bench.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
