# normwatch: a static binary on a distroless base, running as non-root.
# The image is ghcr.io/normwatch/normwatch, the name deployments/kubernetes
# runs (README: "Building and pushing the image"):
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/normwatch/normwatch:v0.1.0 .
#   docker run --rm -p 10308:10308 ghcr.io/normwatch/normwatch:v0.1.0 demo     # everything in one process
#   docker run --rm ghcr.io/normwatch/normwatch:v0.1.0 run --kafka.brokers kafka:9092 ...
# `run` needs --kafka.brokers (or NORMWATCH_KAFKA_BROKERS), or --kafka.embedded
# for the broker built in: without either it exits 2 saying so.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION is stamped in, as scripts/release.sh does: `monitor version` and
# normwatch_build_info{version} say it.
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" -o /out/monitor ./cmd/monitor \
 && mkdir -p /out/var/lib/normwatch/baselines /out/var/lib/normwatch/checkpoints

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title=normwatch \
      org.opencontainers.image.source=https://github.com/normwatch/normwatch \
      org.opencontainers.image.licenses=Apache-2.0 \
      org.opencontainers.image.version=${VERSION}
COPY --from=build /out/monitor /usr/local/bin/monitor
# Owned by the nonroot user, so named volumes mounted here are writable.
COPY --from=build --chown=65532:65532 /out/var/lib/normwatch /var/lib/normwatch
WORKDIR /var/lib/normwatch
USER 65532:65532
ENV NORMWATCH_BASELINES_DIR=/var/lib/normwatch/baselines \
    NORMWATCH_CHECKPOINT_DIR=/var/lib/normwatch/checkpoints
EXPOSE 10308
ENTRYPOINT ["/usr/local/bin/monitor"]
CMD ["run"]
