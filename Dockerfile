# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds (BuildKit);
# the binary is copied out because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && cp target/release/pgchat /usr/local/bin/pgchat

# ---- run --------------------------------------------------------------------
FROM debian:bookworm-slim
# curl: the compose health check calls /healthz with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system pgchat \
 && useradd --system --gid pgchat --home-dir /var/lib/pgchat --shell /usr/sbin/nologin pgchat \
 && mkdir -p /var/lib/pgchat \
 && chown pgchat:pgchat /var/lib/pgchat
COPY --from=builder /usr/local/bin/pgchat /usr/local/bin/pgchat

USER pgchat
WORKDIR /var/lib/pgchat
# No PostgreSQL server in this image: set DATABASE_URL (docker-compose.yml does).
ENV PGCHAT_BIND=0.0.0.0:8080 \
    PGCHAT_DATA_DIR=/var/lib/pgchat
EXPOSE 8080
VOLUME ["/var/lib/pgchat"]
# SIGTERM triggers a graceful shutdown.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pgchat"]
CMD ["serve"]
