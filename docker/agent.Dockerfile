# The LTS agent: measures candidates' latency and peak memory on the machine it runs on.
#
# Built from requirements.lock (docker/lock_install.py): every package at the version CI
# verified. torch by machine: on x86-64 the lock's torch==2.13.0, CPU-only build, from
# TORCH_INDEX_URL (PyTorch's CPU index; PyPI's x86-64 wheel pulls several GB of CUDA
# libraries); on aarch64 (a Raspberry Pi 4/5 with a 64-bit OS) torch==$TORCH_AARCH64 (2.9.1,
# PyPI's CPU-only build that runs on a Pi 4's Cortex-A72) in place of the lock's pin, every
# other pin kept. Only wheels are installed, nothing is compiled.
#
#   docker build -f docker/agent.Dockerfile -t lts-agent .
#   docker buildx build --platform linux/arm64 -f docker/agent.Dockerfile -t lts-agent:arm64 .
#
# Build arguments: BASE (default python:3.11-slim; any image with Python 3.11 whose `python`
# and `pip` may install packages, e.g. the Debian 12 one scripts/docker-smoke makes where no
# registry can be reached), TORCH_INDEX_URL, TORCH_AARCH64, and pip's own PIP_INDEX_URL,
# PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS for a mirror.
#
# Run (the token from a mounted file, or -e LTS_AGENT_TOKEN=...; the agent refuses to start
# without one):
#   docker run -d --name lts-agent --hostname pi-1 -p 8900:8900 \
#     -v ~/.lts-token:/run/secrets/lts-agent-token:ro \
#     -e LTS_AGENT_TOKEN_FILE=/run/secrets/lts-agent-token lts-agent
# A fixed --hostname keeps the device fingerprint stable across containers. Every option is
# also an LTS_AGENT_* variable (-e LTS_AGENT_THREADS=4, -e LTS_AGENT_SLOTS=2, ...).
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_AARCH64=2.9.1
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/lts
# The dependencies first (a layer that changes only with the lock or pyproject.toml) ...
COPY pyproject.toml requirements.lock docker/lock_install.py ./
RUN python lock_install.py deps agent
# ... then the code.
COPY setup.py README.md ./
COPY shared ./shared
COPY agent ./agent
RUN python lock_install.py project

RUN useradd --create-home --uid 10001 lts
USER lts
WORKDIR /home/lts

EXPOSE 8900
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8900/health', timeout=4)"]
CMD ["agent", "serve", "--host", "0.0.0.0", "--port", "8900"]
