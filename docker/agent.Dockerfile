# syntax=docker/dockerfile:1
# The LTS agent: measures candidates' latency and peak memory on the machine it runs on.
#
# Multi-arch (linux/amd64, linux/arm64 such as a Raspberry Pi 4/5 with a 64-bit OS); only
# wheels are installed, nothing is compiled:
#   docker buildx build --platform linux/amd64,linux/arm64 -f docker/agent.Dockerfile -t lts-agent .
# torch: on amd64 the CPU-only build from the PyTorch CPU index (PyPI's default amd64 wheel pulls
# several GB of CUDA libraries); on arm64 the one the agent extra allows there (torch<2.10, i.e.
# PyPI's 2.9.1, CPU-only and runs on a Pi 4's Cortex-A72: PyPI's aarch64 torch 2.11+ is a CUDA
# build with ~3 GB of NVIDIA wheels, and 2.10.0 dies with "Illegal instruction" on a Pi 4).
#
# Run (the token from a mounted file, or -e LTS_AGENT_TOKEN=...; the agent refuses to start
# without one):
#   docker run -d --name lts-agent --hostname pi-1 -p 8900:8900 \
#     -v ~/.lts-token:/run/secrets/lts-agent-token:ro \
#     -e LTS_AGENT_TOKEN_FILE=/run/secrets/lts-agent-token lts-agent
# A fixed --hostname keeps the device fingerprint stable across containers. Every option is
# also an LTS_AGENT_* variable (-e LTS_AGENT_THREADS=4, -e LTS_AGENT_SLOTS=2, ...).
FROM python:3.11-slim

ARG TARGETARCH
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/lts
RUN if [ "$TARGETARCH" = "amd64" ]; then \
        pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.5"; \
    fi
COPY pyproject.toml setup.py README.md ./
COPY shared ./shared
COPY agent ./agent
RUN pip install ".[agent]"

RUN useradd --create-home --uid 10001 lts
USER lts
WORKDIR /home/lts

EXPOSE 8900
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8900/health', timeout=4)"]
CMD ["agent", "serve", "--host", "0.0.0.0", "--port", "8900"]
