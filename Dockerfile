# normwatch: a static binary on a distroless base, running as non-root.
#   docker build -t normwatch .
#   docker run --rm -p 10308:10308 normwatch demo     # everything in one process
#   docker run --rm normwatch run --kafka.brokers kafka:9092 ...
# `run` needs --kafka.brokers (or NORMWATCH_KAFKA_BROKERS), or --kafka.embedded
# for the broker built in: without either it exits 2 saying so.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/monitor ./cmd/monitor \
 && mkdir -p /out/var/lib/normwatch/baselines /out/var/lib/normwatch/checkpoints

FROM gcr.io/distroless/static-debian12:nonroot
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
