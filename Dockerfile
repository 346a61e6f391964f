# The manager and runner images, FROM scratch, from binaries prebuilt on the host (no base
# image is pulled). `make images` builds the same images without a daemon (hack/imagebuild,
# go-containerregistry); this file is for users who build with Docker.
#
#   make images   # bin/manager, bin/runner (static), bin/ca-certificates.crt (host CA bundle)
#   docker build --target runner -t checkpointed/runner:dev .
#   docker build --target manager -t checkpointed/manager:dev .
#
# Each image holds the binary as entrypoint and the CA bundle, runs as 65532:65532, has no
# shell and needs no writable path (readOnlyRootFilesystem: true).

FROM scratch AS manager
COPY bin/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY bin/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM scratch AS runner
COPY bin/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY bin/runner /runner
USER 65532:65532
ENTRYPOINT ["/runner"]
