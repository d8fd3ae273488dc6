# The LTS controller: the results API (`controller serve`) and the whole controller CLI
# (search, results, plot, export) over one store: the SQLite file in the /data volume, or a
# PostgreSQL server (LTS_DB=postgresql+psycopg://...; the psycopg driver is installed).
#
# Built from requirements.lock (docker/lock_install.py): `.[controller,postgres]` at the
# versions CI verified. No PyTorch in this image (the controller does not need it to search,
# serve or plot), so `controller export --format onnx|pt` answers with a one-line error here;
# json and csv work.
#
#   docker build -f docker/controller.Dockerfile -t lts-controller .
#   docker run -d --name lts-controller -p 127.0.0.1:8800:8800 -v lts-data:/data lts-controller
#   docker exec lts-controller controller search --agents http://pi5.local:8900 \
#     --token-file /run/secrets/lts-agent-token ...
#
# Build arguments: BASE (default python:3.11-slim; see docker/agent.Dockerfile) and pip's own
# PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS. docker-compose.yml at the top of the
# repository starts it with two agents (and, with --profile postgres, on a PostgreSQL server).
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    LTS_DB=/data/lts.sqlite

WORKDIR /opt/lts
COPY pyproject.toml requirements.lock docker/lock_install.py ./
RUN python lock_install.py deps controller,postgres
# README* matches nothing when the repository has no README; pyproject.toml is always there.
COPY setup.py README* ./
COPY shared ./shared
COPY controller ./controller
RUN python lock_install.py project

# The store lives in /data (a volume). World-writable (sticky), so that the container also
# works when started with --user "$(id -u):$(id -g)" to read a token file only you can read.
RUN useradd --create-home --uid 10001 lts \
    && mkdir -p /data \
    && chown lts:lts /data \
    && chmod 1777 /data
VOLUME ["/data"]
USER lts
WORKDIR /data

EXPOSE 8800
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8800/health', timeout=4)"]
CMD ["controller", "serve", "--host", "0.0.0.0", "--port", "8800"]
