"""Importing this module configures Django from the environment, as manage.py does.

Benchmark modules import it before anything that needs the app registry (models, selectors).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
