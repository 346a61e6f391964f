#!/usr/bin/env bash
# Builds bin/manager, bin/runner and bin/pause as static binaries and packs each into a
# FROM-scratch image with hack/imagebuild (github.com/google/go-containerregistry, no
# container daemon), written to dist/ as a tarball of an OCI image layout, which
# `ctr -n k8s.io images import` takes (hack/cluster/up.sh, deploy.sh):
#   dist/manager.tar  docker.io/checkpointed/manager:dev
#   dist/runner.tar   docker.io/checkpointed/runner:dev   (must stay <= 30 MB)
#   dist/pause.tar    docker.io/checkpointed/pause:dev    (the local cluster's sandbox image)
# Each image: the binary at /<name> as entrypoint, the host's CA bundle at
# /etc/ssl/certs/ca-certificates.crt, user 65532:65532, nothing else (no shell, no /tmp).
# Reproducible: rebuilding from the same binaries gives the same bytes. The runner image
# above 30 MB compressed fails the build. Each image's digest is written to
# dist/<name>.digest as repo@sha256:... and printed at the end, to pin the images
# (kustomize edit set image, --runner-image, --allowed-runner-images; see the README). The Dockerfile describes the same images for
# `docker build` from the same files.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
GO=${GO:-go}
TAG=${IMAGE_TAG:-dev}
export CGO_ENABLED=0
ld="-s -w"

mkdir -p bin dist
"$GO" build -trimpath -ldflags "$ld" -o bin/manager .
"$GO" build -trimpath -ldflags "$ld" -o bin/ ./runner ./hack/pause
"$GO" build -trimpath -o bin/imagebuild ./hack/imagebuild
install -m 0644 /etc/ssl/certs/ca-certificates.crt bin/ca-certificates.crt

ca=bin/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt
bin/imagebuild -o dist/manager.tar -digest-file dist/manager.digest -tag "docker.io/checkpointed/manager:$TAG" -file bin/manager=/manager -file "$ca" -entrypoint /manager
bin/imagebuild -o dist/runner.tar -digest-file dist/runner.digest -tag "docker.io/checkpointed/runner:$TAG" -file bin/runner=/runner -file "$ca" -entrypoint /runner -max-size 30
bin/imagebuild -o dist/pause.tar -digest-file dist/pause.digest -tag "docker.io/checkpointed/pause:$TAG" -file bin/pause=/pause -entrypoint /pause

echo "Images by digest (pin them: README, \"Pinning images by digest\"):"
for name in manager runner pause; do
	printf '  %-8s %s\n' "$name" "$(cat "dist/$name.digest")"
done
