# PostgreSQL 15 for the controller's store: docker-compose.yml's `postgres` profile.
#
# Debian 12's own postgresql-15 package (the server the PostgreSQL store tests run against in
# CI) on a Debian 12 base, with docker/postgres-entrypoint: on the first start it creates the
# cluster in the /var/lib/postgresql/data volume, a login role and a database named
# POSTGRES_USER and POSTGRES_DB (default lts, lts), the role's password the last field of the
# libpq password file POSTGRES_PASSFILE (a Compose secret; the controller reads the same file
# through PGPASSFILE), and password (SCRAM) authentication for every TCP client; then it runs
# the server as the `postgres` user.
#
#   docker build -f docker/postgres.Dockerfile -t lts-postgres .
#
# Build argument BASE: default debian:bookworm-slim (scripts/docker-smoke passes the Debian 12
# base it makes with debootstrap where no registry can be reached).
ARG BASE=debian:bookworm-slim
FROM ${BASE}

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
COPY docker/postgres-entrypoint /usr/local/bin/lts-postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    POSTGRES_USER=lts \
    POSTGRES_DB=lts \
    POSTGRES_PASSFILE=/run/secrets/lts_postgres_passfile
VOLUME ["/var/lib/postgresql/data"]

EXPOSE 5432
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["pg_isready", "--host", "127.0.0.1", "--port", "5432", "--dbname", "lts", "--username", "lts"]
# Starts as root to read the password file and own the volume, then runs as `postgres`.
ENTRYPOINT ["/usr/local/bin/lts-postgres"]
