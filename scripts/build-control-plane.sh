#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy (wrapper module in
# e2e/k8s) into a cache outside the repo, keyed by the Kubernetes version:
#   ${AGENTGATE_CACHE:-$HOME/.cache/agentgate}/k8s-<version>/{kube-apiserver,etcd}
# Does nothing when both binaries are already there. Prints the directory as
# the last line of stdout (progress goes to stderr).
# A cold build takes a long time and several GB of memory, so it is niced and
# limited to two packages at a time (other work shares the machine).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$repo/e2e/k8s"
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == "k8s.io/kubernetes" { print $3; exit }' "$mod/go.mod")"
if [ -z "$version" ]; then
  echo "build-control-plane: cannot read the k8s.io/kubernetes version from $mod/go.mod" >&2
  exit 2
fi
cache="${AGENTGATE_CACHE:-$HOME/.cache/agentgate}"
out="$cache/k8s-$version"

have_binaries() { [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ]; }
if have_binaries; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
# One build at a time: parallel test runs would otherwise both build for minutes.
exec 9>"$cache/.k8s-$version.lock"
flock 9
if have_binaries; then
  echo "$out"
  exit 0
fi

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
if [ ! -x "$go_bin" ]; then
  echo "build-control-plane: go not found (need Go >= the version in $mod/go.mod)" >&2
  exit 2
fi

minor="${version#v1.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

# Build into a temporary directory next to the target, then rename, so an
# interrupted build never leaves a half-written binary under the cached path.
tmp="$(mktemp -d "$cache/.k8s-$version.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# go.sum is committed: -mod=readonly makes the build verify every module
# against it instead of editing go.mod/go.sum or asking the checksum database.
export GOFLAGS="-buildvcs=false -mod=readonly"
export GOMAXPROCS="${AGENTGATE_BUILD_PROCS:-2}"
start=$(date +%s)
echo "build-control-plane: building kube-apiserver and etcd $version into $out (takes a while on a cold cache)" >&2
cd "$mod"
nice -n 10 "$go_bin" build -p "$GOMAXPROCS" -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" ./cmd/kube-apiserver
nice -n 10 "$go_bin" build -p "$GOMAXPROCS" -trimpath -ldflags "-s -w" -o "$tmp/etcd" ./cmd/etcd
"$tmp/kube-apiserver" --version >&2
"$tmp/etcd" --version >&2

mkdir -p "$out"
mv -f "$tmp/kube-apiserver" "$tmp/etcd" "$out/"
echo "build-control-plane: done in $(( $(date +%s) - start ))s" >&2
echo "$out"
