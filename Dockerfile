# One image for every process: workers, scheduler, streamer, migrate (and simnet locally).
# Configuration and secrets come from the environment at run time (env files in
# docker-compose.yml); nothing secret is copied into the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TZ=UTC \
    dramatiq_prom_db=/run/anchor/prometheus

WORKDIR /app

RUN groupadd --system --gid 10001 anchor \
    && useradd --system --uid 10001 --gid anchor --home-dir /app --shell /usr/sbin/nologin anchor \
    && mkdir -p /run/anchor/prometheus \
    && chown anchor:anchor /run/anchor/prometheus

COPY setup.cfg pyproject.toml README.md ./
COPY anchor_dramatiq ./anchor_dramatiq
COPY actors ./actors
COPY simnet ./simnet
COPY scheduler.py streamer.py ./
# The package index, when it is not PyPI: `docker compose build --build-arg PIP_INDEX_URL=...`.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
RUN pip install --no-cache-dir .

USER 10001:10001

# `docker stop` sends SIGTERM to the main process only (like systemd's KillMode=mixed):
# dramatiq's master then lets in-flight actors finish within --worker-shutdown-timeout.
STOPSIGNAL SIGTERM
CMD ["dramatiq", "actors", "--processes", "2", "--threads", "4", "--worker-shutdown-timeout", "90000"]
