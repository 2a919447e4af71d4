#!/usr/bin/env bash
# Builds the pushlab image from nothing: FROM scratch with the pushlab binary, exactly the shared
# libraries it links (libzmq and its dependencies, libc, the loader), CA certificates and /tmp.
# No base image is pulled, so this works on a Docker engine with no registry.
#
# usage: deploy/image/build.sh BINARY TAG
set -euo pipefail
bin=${1:?binary}
tag=${2:?tag}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/data" "$ctx/rootfs/etc"
cp "$bin" "$ctx/rootfs/usr/local/bin/pushlab"
# Every shared library the binary needs, resolved by the loader, at its real path.
ldd "$bin" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
# The loader under the path the binary asks for.
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
if [ -n "$interp" ] && [ ! -e "$ctx/rootfs$interp" ]; then
  mkdir -p "$ctx/rootfs$(dirname "$interp")"
  cp -L "$interp" "$ctx/rootfs$interp"
fi
[ -f /etc/ssl/certs/ca-certificates.crt ] && mkdir -p "$ctx/rootfs/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
echo 'root:x:0:0:root:/:/usr/local/bin/pushlab' > "$ctx/rootfs/etc/passwd"
echo 'root:x:0:' > "$ctx/rootfs/etc/group"
echo 'hosts: files dns' > "$ctx/rootfs/etc/nsswitch.conf"
echo '127.0.0.1 localhost' > "$ctx/rootfs/etc/hosts"
chmod 1777 "$ctx/rootfs/tmp"

cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV TMPDIR=/tmp
WORKDIR /data
EXPOSE 10000 10002 10003
ENTRYPOINT ["/usr/local/bin/pushlab"]
CMD ["server", "--data-dir", "/data", "--listen", "0.0.0.0:10003", "--zmq-listen", "*"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null 2>&1 || { DOCKER_BUILDKIT=0 docker build -t "$tag" "$ctx" >&2; exit 1; }
echo "$tag"
