# The carbs-operator image: `carbs operator` (kopf) with the CARBS engine on CPU torch.
#
#   docker build -t <registry>/carbs-operator:0.1.0 .
#
# Two stages: the first builds a virtual environment (CPU torch from PyTorch's CPU index,
# then the project and its pinned-range dependencies); the second copies only that
# environment onto a clean base of the same tag, so no sources, pip caches or build
# dependencies ship. It runs as the non-root user 65532 and writes nothing outside /tmp,
# so it works under the chart's restricted security context with a read-only root file
# system.

FROM python:3.12.12-slim-bookworm AS build

# CPU torch: the project's `torch` requirement alone would pull a multi-GB CUDA build from
# PyPI. Override TORCH_INDEX_URL (e.g. .../whl/cu128) for an engine that runs on GPUs.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first and alone, from the CPU index; the project's `torch>=2.6,<2.14` (extra
# `engine`, part of `all`) then finds it installed and pip resolves nothing else from the
# CUDA world.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY optimizer/ optimizer/
COPY operator/ operator/
RUN pip install --no-cache-dir "./[all]" \
    && pip check \
    && carbs --help > /dev/null


FROM python:3.12.12-slim-bookworm

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="carbs-operator" \
      org.opencontainers.image.description="Kubernetes operator for cost-aware hyperparameter tuning with CARBS" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12.12-slim-bookworm"

# A named user for uid 65532 (getpass and friends look the uid up); no home, no login.
RUN groupadd --system --gid 65532 carbs \
    && useradd --system --no-log-init --uid 65532 --gid 65532 \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin carbs

COPY --from=build /opt/venv /opt/venv

# HOME and MPLCONFIGDIR point at /tmp: the only writable place under a read-only root.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib

USER 65532:65532
WORKDIR /tmp

# 8080: Prometheus /metrics (--metrics-port); 8081: kopf's health endpoint (--liveness).
EXPOSE 8080 8081

# Kubernetes probes (the chart's) replace a HEALTHCHECK. The chart passes the flags as args;
# the default CMD runs a single cluster-wide operator.
ENTRYPOINT ["carbs", "operator"]
CMD ["--all-namespaces", "--standalone", "--metrics-port=8080", "--liveness=http://0.0.0.0:8081/healthz"]
