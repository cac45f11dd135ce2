"""Minimal Django settings that run django-polaris 2.6's background processes on the same
database, Horizon and SECRET_KEY as anchor-dramatiq (read from the same ``ANCHOR_*`` variables).

No API server is served: only the models, ``migrate`` and Polaris's management commands.
"""

import os

import environ

SECRET_KEY = os.environ["ANCHOR_SECRET_KEY"]  # also encrypts polaris_asset.distribution_seed
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
DATABASES = {"default": environ.Env.db_url_config(os.environ["ANCHOR_DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "polaris_bench.urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "corsheaders",
    "polaris",
    "polaris_bench.apps.PolarisBenchConfig",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
]

POLARIS_ACTIVE_SEPS = ["sep-1", "sep-24"]
POLARIS_HOST_URL = "http://localhost:8000"
POLARIS_LOCAL_MODE = True
POLARIS_SERVER_JWT_KEY = "polaris-bench-jwt-key-not-a-secret"
POLARIS_HORIZON_URI = os.environ.get("ANCHOR_HORIZON_URL", "http://127.0.0.1:8000")
POLARIS_STELLAR_NETWORK_PASSPHRASE = os.environ.get(
    "ANCHOR_NETWORK_PASSPHRASE", "Standalone Network ; February 2017")
POLARIS_MAX_TRANSACTION_FEE_STROOPS = int(os.environ.get("ANCHOR_MAX_FEE_STROOPS", "10000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"polaris": {"handlers": ["console"], "level": os.environ.get("POLARIS_LOG_LEVEL", "WARNING"),
                            "propagate": False}},
}
