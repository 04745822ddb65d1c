"""A tiny shop keeping its sessions in Session Gate (sessiongate_django.py).

Environment: SESSIONGATE_SIGN_KEY and DJANGO_SECRET_KEY (required; long and random),
REDIS_URL (default redis://127.0.0.1:6379/0), SESSION_IDLE_SECONDS (1800),
SESSION_MAX_SECONDS (28800), DJANGO_DB (the SQLite file of the users, default db.sqlite3).
"""

import os
from pathlib import Path

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
# A JSON API for the example; a site with forms keeps CsrfViewMiddleware (its token is a
# cookie of its own, not a session value).
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "shop.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", Path(__file__).resolve().parent.parent / "db.sqlite3"),
    }
}
USE_TZ = True

SESSION_ENGINE = "sessiongate_django"
SESSIONGATE = {
    "URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "SIGN_KEY": os.environ["SESSIONGATE_SIGN_KEY"],
    "MAX_LIFETIME": int(os.environ.get("SESSION_MAX_SECONDS", "28800")),
}
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_NAME = "__Host-session"
SESSION_COOKIE_SECURE = True
