#!/usr/bin/env bash
# make image: builds the gateway's OCI image offline, from scratch, with buildah, and writes it
# as an archive that `docker load` and `podman load` accept:
#   $CARGO_TARGET_DIR/image/quota-sentinel-<version>.oci.tar
#
# The image holds only what the release binary needs: the binary, the shared libraries `ldd`
# lists (with the dynamic loader) at their paths, the site (LEPTOS_SITE_ROOT), /etc/passwd and
# /etc/group with the user `qs` (10001), /etc/nsswitch.conf, /tmp, and /data (the volume, owned by
# qs; the default SQLite database is /data/quota-sentinel.db, relative to the working dir /).
# No CA bundle: the TLS clients (reqwest, hyper-rustls, lettre) use the compiled-in webpki roots.
# No time zone files: chrono-tz compiles the IANA database in.
#
#   scripts/image.sh                    cargo leptos build --release, then the image
#   scripts/image.sh --no-cargo-build   the image from the release build already there
#
# Nothing is RUN inside the image, so no container runtime is needed. buildah keeps its storage
# (vfs driver) under $CARGO_TARGET_DIR/image/buildah, outside the clone; the image is removed from
# that storage once the archive is written (the archive is the product). An unchanged build
# (same binary, libraries, site, script, version and revision) reuses the archive.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

# buildah without user namespaces (no uidmap set up here) and the root-owned staged files.
[ "$(id -u)" -eq 0 ] || die "must run as root (buildah's vfs storage and the image's file owners)"

cargo_build=1
case "${1:-}" in
  "") ;;
  --no-cargo-build) cargo_build=0 ;;
  *) die "usage: $0 [--no-cargo-build]" ;;
esac

: "${CARGO_TARGET_DIR:=$HOME/.cache/quota-sentinel/target}"
: "${LEPTOS_SITE_ROOT:=$root/target/site}"
export CARGO_TARGET_DIR LEPTOS_SITE_ROOT
export PATH="$root/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

"$root/scripts/ensure-tools.sh" image
if [ "$cargo_build" -eq 1 ]; then
  log "cargo leptos build --release"
  cargo leptos build --release
fi

bin="$CARGO_TARGET_DIR/release/quota-sentinel"
site="$LEPTOS_SITE_ROOT"
[ -x "$bin" ] || die "no release binary at $bin (run cargo leptos build --release)"
[ -d "$site/pkg" ] || die "no site at $site (run cargo leptos build --release)"

name=quota-sentinel
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || die "no version in Cargo.toml"
revision=$(git rev-parse HEAD)
# A build from uncommitted changes says so rather than claiming a commit it does not match.
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then revision="$revision-dirty"; fi
# The commit's time, not the clock: the same commit gives the same image config.
created=$(git log -1 --format=%ct HEAD)

# Paths inside the image.
img_bin=/usr/local/bin/quota-sentinel
img_site=/usr/share/quota-sentinel/site
uid=10001
gid=10001

out_dir="$CARGO_TARGET_DIR/image"
archive="$out_dir/$name-$version.oci.tar"
stamp="$archive.inputs"
storage="$out_dir/buildah"
work="$out_dir/work"
mkdir -p "$out_dir"

# buildah as root on a machine without a container runtime: the vfs driver (no overlay mounts)
# and chroot isolation (only RUN would use it, and nothing is RUN).
export BUILDAH_ISOLATION=chroot
bh() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs "$@"; }

# The libraries the binary links, as `ldd` resolves them (absolute paths; the vdso has none).
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libs" ] || die "ldd listed no libraries for $bin"
grep -q 'ld-linux' <<<"$libs" || die "ldd listed no dynamic loader for $bin"

# What decides the image's content; an unchanged fingerprint reuses the archive.
fingerprint() {
  {
    echo "$version $revision $created"
    sha256sum "$bin" "$root/scripts/image.sh"
    for l in $libs; do sha256sum "$(readlink -f "$l")" | sed "s|  .*|  $l|"; done
    (cd "$site" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}
inputs=$(fingerprint)
if [ -f "$archive" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  log "unchanged since the last build: reusing $archive"
  echo "$archive"
  exit 0
fi

ctr=qs-image-build
# The storage is this script's alone: whatever an interrupted run left in it goes.
cleanup() {
  bh rm "$ctr" >/dev/null 2>&1 || true
  bh rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup  # a previous run that was interrupted
rm -f "$stamp"

# The root file system, staged with its owners and modes, then copied in as one layer.
log "staging the root file system"
fs="$work/rootfs"
mkdir -p "$fs"
install -D -m 0755 "$bin" "$fs$img_bin"
for l in $libs; do
  install -D -m 0755 "$(readlink -f "$l")" "$fs$l"
done
mkdir -p "$fs$(dirname "$img_site")"
cp -R "$site" "$fs$img_site"
chmod -R u=rwX,go=rX "$fs$img_site"
mkdir -p "$fs/etc"
cat >"$fs/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
qs:x:$uid:$gid:Quota Sentinel:/data:/sbin/nologin
EOF
cat >"$fs/etc/group" <<EOF
root:x:0:
qs:x:$gid:
EOF
# Files first (the runtime's /etc/hosts, e.g. compose service names), then DNS.
cat >"$fs/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$fs/etc/passwd" "$fs/etc/group" "$fs/etc/nsswitch.conf"
install -d -m 1777 "$fs/tmp"
chown -R 0:0 "$fs"
install -d -m 0750 -o "$uid" -g "$gid" "$fs/data"

log "buildah: from scratch, $(du -sh "$fs" | cut -f1) of files"
bh from --name "$ctr" scratch >/dev/null
mnt=$(bh mount "$ctr")
# cp -a keeps the staged owners and modes (buildah copy would make everything root's).
cp -a "$fs/." "$mnt/"
bh umount "$ctr" >/dev/null

bh config \
  --os linux --arch amd64 \
  --user "$uid:$gid" \
  --workingdir / \
  --env "LEPTOS_SITE_ROOT=$img_site" \
  --env "QS_LISTEN=0.0.0.0:3000" \
  --port 3000/tcp \
  --volume /data \
  --entrypoint "[\"$img_bin\"]" \
  --cmd '["serve"]' \
  --stop-signal SIGTERM \
  --created-by "scripts/image.sh (buildah from scratch)" \
  --label "org.opencontainers.image.title=Quota Sentinel" \
  --label "org.opencontainers.image.description=Self-hosted OpenAI-compatible gateway that meters every call per workspace, enforces quotas and budgets, and alerts in real time" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  --label "org.opencontainers.image.created=$(date -u -d "@$created" +%Y-%m-%dT%H:%M:%SZ)" \
  "$ctr"

tag="localhost/$name:$version"
log "buildah commit $tag"
bh commit --quiet --format oci --timestamp "$created" --rm "$ctr" "$tag" >/dev/null

# An OCI layout (oci-layout, index.json, blobs/sha256/…), written as a directory first so that
# the two names the loaders read can be added:
# - index.json's io.containerd.image.name: `docker load` with the containerd image store and
#   `podman load` name the image from it (org.opencontainers.image.ref.name holds the tag);
# - manifest.json with RepoTags: `docker load` with the classic image store reads only that.
# This is the layout `docker save` itself writes since Docker 25.
layout="$work/layout"
log "writing the OCI layout"
bh push --quiet --format oci "$tag" "oci:$layout:$version" >/dev/null
bh rmi "$tag" >/dev/null

manifest_digest=$(jq -er '.manifests | if length == 1 then .[0].digest else error("index.json holds \(length) manifests") end' "$layout/index.json")
manifest="$layout/blobs/${manifest_digest/://}"
jq --arg name "docker.io/library/$name:$version" \
  '.manifests[0].annotations += {"io.containerd.image.name": $name}' \
  "$layout/index.json" >"$layout/index.json.new"
mv "$layout/index.json.new" "$layout/index.json"
jq --arg tag "$name:$version" \
  '[{Config: ("blobs/" + (.config.digest | sub(":"; "/"))),
     RepoTags: [$tag],
     Layers: [.layers[].digest | "blobs/" + sub(":"; "/")]}]' \
  "$manifest" >"$layout/manifest.json"

tmp="$archive.tmp"
(cd "$layout" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$created" \
  -cf "$tmp" oci-layout index.json manifest.json blobs)
mv "$tmp" "$archive"
echo "$inputs" >"$stamp"

log "wrote $archive ($(du -h "$archive" | cut -f1))"
log "load it with:  docker load -i $archive   (or: podman load -i $archive)"
log "run it with:   docker run -p 3000:3000 -v qs-data:/data $name:$version"
echo "$archive"
