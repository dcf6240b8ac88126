# syntax=docker/dockerfile:1
# Build: cgo is needed for SQLite (github.com/mattn/go-sqlite3).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/jitbot ./cmd/jitbot

# Run: a small Debian with CA certificates, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/jitbot --create-home jitbot
COPY --from=build /out/jitbot /usr/local/bin/jitbot
USER jitbot
WORKDIR /var/lib/jitbot
# The policy (read-only, from git) and the database (read-write) are volumes.
VOLUME ["/etc/jitbot", "/var/lib/jitbot"]
ENV JITBOT_POLICY=/etc/jitbot/policy.yaml \
    JITBOT_DB=/var/lib/jitbot/jitbot.db \
    JITBOT_LOG_FORMAT=json
# /healthz on JITBOT_LISTEN (127.0.0.1:9464 by default); jitbot health asks it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["jitbot", "health"]
ENTRYPOINT ["jitbot"]
CMD ["run"]
