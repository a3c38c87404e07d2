# Embedded-analytics token gateway: production image.
#
#   docker build -t embed-gateway:0.1.0 .
#   docker run --rm -p 8080:8080 -e GATEWAY_ADMIN_TOKEN=... -e GATEWAY_SECRET_KEY=... \
#       -e GATEWAY_DATABASE_URL=postgresql://... -e REDIS_URL=redis://... embed-gateway:0.1.0
#
# Secrets are never baked in: they come from the environment at run time (k8s/secret.example.md).
# The UID/GID below (10001) are the ones k8s/ runs the pods as; tests/ops checks that they agree.

# Both stages use the same Python build, so the virtual environment made in the first one runs
# unchanged in the second (its interpreter is /usr/local/bin/python3.11 in both).
ARG PYTHON_VERSION=3.11.14

# ---- builder: the full Debian image has gcc and headers for any dependency without a wheel.
FROM python:${PYTHON_VERSION}-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what the package build needs (pyproject names README.md as its readme).
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY tenants ./tenants
# A regular (not editable) install: the final stage copies /opt/venv and nothing from /src.
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv/lib

# ---- runtime: slim base, no compilers, no sources, non-root.
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG APP_UID=10001
ARG APP_GID=10001

LABEL org.opencontainers.image.title="embed-gateway" \
      org.opencontainers.image.description="Embedded-analytics token gateway" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid "${APP_GID}" gateway \
    && useradd --system --uid "${APP_UID}" --gid gateway --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin gateway

COPY --from=builder /opt/venv /opt/venv

# GATEWAY_ENV=production: the gateway refuses to start without strong secrets and a PostgreSQL
# registry, so a forgotten setting fails loudly instead of running on development defaults.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_ENV=production

# Owned by root and read-only for the gateway user: nothing is written to the working directory
# (production needs PostgreSQL, not a SQLite file). Kubernetes mounts a writable /tmp.
WORKDIR /app
USER 10001:10001

EXPOSE 8080

# curl is not in the slim image; the standard library is.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]

# `docker run IMAGE` serves; `docker run IMAGE tenants list` runs another gateway command.
ENTRYPOINT ["gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
