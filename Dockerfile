# The Tesserra server's image: `tesserra serve` as an unprivileged user (uid 10001), its state under
# /var/lib/tesserra/data (TESSERRA_DATA_DIR, made 0700 by the server), the dependencies pinned by
# requirements.lock.
#   docker build -t tesserra:0.1.0 .
# The Kubernetes manifests under deploy/kubernetes/ run it (docs/kubernetes.md).
# BASE_IMAGE: any Debian 12 image with Python 3.11 as `python` on the PATH.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN python -m venv /opt/tesserra \
    && /opt/tesserra/bin/pip install -c requirements.lock .

FROM ${BASE_IMAGE}
# bubblewrap and passt (pasta): the process runtime's sandbox, where the cluster lets a pod make user
# namespaces; elsewhere workloads are refused with 422 isolation_unavailable (docs/kubernetes.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap passt \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 tesserra \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/tesserra --shell /usr/sbin/nologin tesserra \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/tesserra
COPY --from=build /opt/tesserra /opt/tesserra
ENV PATH=/opt/tesserra/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TESSERRA_HOST=0.0.0.0 \
    TESSERRA_PORT=7500 \
    TESSERRA_DATA_DIR=/var/lib/tesserra/data
USER 10001:10001
WORKDIR /var/lib/tesserra
EXPOSE 7500
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7500/health', timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["tesserra", "serve"]
