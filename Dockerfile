# The production image: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INSTANCE_PATH=/app/instance

WORKDIR /app

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
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "barometre:create_app()"]
