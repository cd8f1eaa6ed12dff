# Stand-in for python:3.11-slim-bookworm, built from Debian's own packages on a
# locally bootstrapped Debian base (scripts/standin-images.sh). Only for machines
# that cannot pull from an image registry: Debian bookworm's python3 is 3.11.
ARG BASE=barometre-standin/debian:bookworm
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3 /usr/local/bin/python
# This machine's trust store (standin-images.sh copies it here): where HTTPS to the
# package index goes through a proxy with its own certificate authority, pip needs it.
COPY host-ca-certificates.crt /etc/ssl/certs/host-ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt
CMD ["python3"]
