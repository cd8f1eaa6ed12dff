# Smoke tests only: stands in for Mailpit where its image cannot be had. An SMTP
# server on :1025 that keeps what it receives, and the part of Mailpit's HTTP API
# the smoke script reads (GET /api/v1/messages, /readyz) on :8025.
ARG BASE=barometre-standin/debian:bookworm
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-aiosmtpd \
    && rm -rf /var/lib/apt/lists/*
COPY mailsink.py /mailsink.py
USER nobody
EXPOSE 1025 8025
CMD ["python3", "/mailsink.py"]
