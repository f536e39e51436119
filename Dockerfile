# syntax=docker/dockerfile:1
# Build stage: the same release build CI runs.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends gcc make cmake perl && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked --bin firehose-sentinel

# Runtime: minimal, non-root, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="firehose-sentinel" \
      org.opencontainers.image.description="Watches Amazon Data Firehose delivery streams to S3, names why delivery stops, and alerts." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/firehose-sentinel/firehose-sentinel"
COPY --from=build /src/target/release/firehose-sentinel /usr/local/bin/firehose-sentinel
USER 65532:65532
ENV FIREHOSE_SENTINEL_CONFIG=/etc/firehose-sentinel/config.toml \
    FIREHOSE_SENTINEL__STATE__PATH=/var/lib/firehose-sentinel/state.json
VOLUME ["/var/lib/firehose-sentinel"]
EXPOSE 9725
ENTRYPOINT ["/usr/local/bin/firehose-sentinel"]
CMD ["run"]
