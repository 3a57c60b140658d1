#!/usr/bin/env bash
# Builds the routeplane image without a Docker daemon and without a registry: buildah assembles
# it FROM scratch out of binaries already built on this machine, plus the shared libraries they
# load (found with ldd) and a passwd entry for the nonroot user, the same layout as
# deploy/Dockerfile. Then it checks the image: both binaries are in it and run inside its root
# filesystem (chroot into the mounted image: no container runtime needed).
#
#   deploy/image/build.sh [BIN_DIR] [IMAGE]     BIN_DIR: where routeplane and routeplane-bridge
#                                               are (default: $CARGO_TARGET_DIR/release, else
#                                               target/release); IMAGE: name:tag to commit
#   OCI_ARCHIVE=routeplane.tar deploy/image/build.sh ...   also write an OCI archive
#   REMOVE_IMAGE=1 deploy/image/build.sh ...                remove the image after the checks (CI)
#
# Storage is vfs (works inside containers and sandboxes without overlay support).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN_DIR=${1:-${CARGO_TARGET_DIR:-target}/release}
IMAGE=${2:-localhost/routeplane:dev}
export STORAGE_DRIVER=vfs
BUILDAH=(buildah --storage-driver vfs)

for b in routeplane routeplane-bridge; do
  [ -x "$BIN_DIR/$b" ] || { echo "no $BIN_DIR/$b: build it first (cargo build --release)" >&2; exit 1; }
done

root=$(mktemp -d)
ctr=""
cleanup() {
  [ -n "$ctr" ] && "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT

# The root filesystem: binaries, their shared libraries and loader, users, CA certificates.
install -D -m 0755 "$BIN_DIR/routeplane" "$root/usr/local/bin/routeplane"
install -D -m 0755 "$BIN_DIR/routeplane-bridge" "$root/usr/local/bin/routeplane-bridge"
for lib in $( (ldd "$BIN_DIR/routeplane"; ldd "$BIN_DIR/routeplane-bridge") | grep -o '/[^ ]*' | sort -u); do
  install -D -m 0755 "$lib" "$root$lib"
done
mkdir -p "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"

ctr=$("${BUILDAH[@]}" from scratch)
"${BUILDAH[@]}" copy "$ctr" "$root" / >/dev/null
"${BUILDAH[@]}" config \
  --user 65532:65532 \
  --entrypoint '["/usr/local/bin/routeplane"]' --cmd '--help' \
  --label org.opencontainers.image.title=routeplane \
  --label org.opencontainers.image.source=deploy/image/build.sh \
  "$ctr"
"${BUILDAH[@]}" commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
ctr=""

# Check: the committed image holds both binaries, and they run against the image's own libraries.
check=$("${BUILDAH[@]}" from "$IMAGE")
ctr=$check
mnt=$("${BUILDAH[@]}" mount "$check")
version=$(chroot --userspec=65532:65532 "$mnt" /usr/local/bin/routeplane version)
plugin=$(echo '{}' | CNI_COMMAND=VERSION chroot "$mnt" /usr/local/bin/routeplane-bridge)
"${BUILDAH[@]}" umount "$check" >/dev/null
"${BUILDAH[@]}" rm "$check" >/dev/null
ctr=""
echo "image $IMAGE: routeplane version: $version"
echo "image $IMAGE: routeplane-bridge VERSION: $plugin"
grep -q '"supportedVersions"' <<<"$plugin" || { echo "routeplane-bridge VERSION gave no supportedVersions" >&2; exit 1; }
echo "image $IMAGE: user $("${BUILDAH[@]}" inspect --format '{{.OCIv1.Config.User}}' "$IMAGE"), entrypoint $("${BUILDAH[@]}" inspect --format '{{.OCIv1.Config.Entrypoint}}' "$IMAGE"), size $("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE")"

if [ -n "${OCI_ARCHIVE:-}" ]; then
  "${BUILDAH[@]}" push --quiet "$IMAGE" "oci-archive:$OCI_ARCHIVE:$IMAGE"
  echo "image $IMAGE: wrote $OCI_ARCHIVE"
fi

if [ "${REMOVE_IMAGE:-0}" = 1 ]; then
  "${BUILDAH[@]}" rmi "$IMAGE" >/dev/null
fi
