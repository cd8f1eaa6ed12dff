# The production image: web (gunicorn), Celery worker and beat all run from it.
# The base is pinned; docker-compose.yml passes it (a local stand-in where registries
# are out of reach: scripts/standin-images.sh).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INSTANCE_PATH=/app/instance

WORKDIR /app

# Pango and a font for WeasyPrint (the yearly report as PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Locked dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install --requirement requirements.lock

COPY pyproject.toml README.md gunicorn.conf.py ./
COPY barometre ./barometre
COPY intake ./intake
COPY alerts ./alerts
COPY templates ./templates
RUN pip install --no-deps . \
    && rm -rf build *.egg-info

# Never run as root: a dedicated user, owning only the instance folder.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin barometre \
    && mkdir -p /app/instance \
    && chown barometre /app/instance
USER barometre

EXPOSE 8000
# No image-wide HEALTHCHECK: web, worker and beat each check themselves
# (docker-compose.yml); one inherited web check left beat forever "unhealthy".
CMD ["gunicorn", "--config", "gunicorn.conf.py", "barometre:create_app()"]
