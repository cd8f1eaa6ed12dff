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
CMD ["python3"]
