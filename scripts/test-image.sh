#!/usr/bin/env bash
# Tests the container image that `make image` writes, without a container runtime (this machine
# cannot run containers): checks the archive is an OCI layout that both loaders read, imports it
# back into buildah, mounts the image's root and starts the gateway inside it with chroot, as the
# image's user, with the image's environment, entry point and command. /healthz, /login and the
# site's WASM bundle must answer, and the database must be created under the /data volume.
#
#   scripts/test-image.sh                    builds the image first (scripts/image.sh)
#   scripts/test-image.sh --no-cargo-build   the image from the release build already there
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[test-image] %s\n' "$*" >&2; }
fail() { printf '[test-image] FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (buildah's vfs storage, chroot)"
: "${CARGO_TARGET_DIR:=$HOME/.cache/quota-sentinel/target}"
export CARGO_TARGET_DIR
started=$(date +%s)

archive=$("$root/scripts/image.sh" "$@" | tail -n1)
[ -f "$archive" ] || fail "scripts/image.sh wrote no archive (got '$archive')"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)

storage="$CARGO_TARGET_DIR/image/buildah-test"
export BUILDAH_ISOLATION=chroot
bh() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs "$@"; }
work=$(mktemp -d)
ctr=qs-image-test
server_pid=
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  bh umount "$ctr" >/dev/null 2>&1 || true
  bh rm "$ctr" >/dev/null 2>&1 || true
  bh rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bh rm "$ctr" >/dev/null 2>&1 || true   # left by an interrupted run
bh rmi --all --force >/dev/null 2>&1 || true

# 1. The archive: an OCI layout whose every blob matches its digest, plus docker's manifest.json.
log "checking the OCI layout of $archive"
layout="$work/layout"
mkdir -p "$layout"
tar -xf "$archive" -C "$layout"
for f in oci-layout index.json manifest.json; do
  [ -f "$layout/$f" ] || fail "the archive has no $f"
done
jq -e '.imageLayoutVersion == "1.0.0"' "$layout/oci-layout" >/dev/null ||
  fail "oci-layout: imageLayoutVersion is not 1.0.0"
jq -e '.schemaVersion == 2 and (.manifests | length) == 1
  and .manifests[0].mediaType == "application/vnd.oci.image.manifest.v1+json"' \
  "$layout/index.json" >/dev/null || fail "index.json: not one OCI image manifest"
jq -e --arg v "$version" '.manifests[0].annotations["org.opencontainers.image.ref.name"] == $v
  and .manifests[0].annotations["io.containerd.image.name"] == "docker.io/library/quota-sentinel:\($v)"' \
  "$layout/index.json" >/dev/null || fail "index.json: the image is not named quota-sentinel:$version"
blob() { echo "$layout/blobs/${1/://}"; }
checked=0
while IFS= read -r file; do
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  [ "$(blob "$digest")" = "$file" ] || fail "blob ${file#"$layout/"} does not match its digest"
  checked=$((checked + 1))
done < <(find "$layout/blobs/sha256" -type f)
manifest=$(blob "$(jq -r '.manifests[0].digest' "$layout/index.json")")
[ -f "$manifest" ] || fail "index.json names a manifest the archive lacks"
config=$(blob "$(jq -r '.config.digest' "$manifest")")
[ -f "$config" ] || fail "the manifest names a config the archive lacks"
jq -e --arg c "${config#"$layout/"}" --arg v "$version" \
  '.[0].Config == $c and .[0].RepoTags == ["quota-sentinel:" + $v]' \
  "$layout/manifest.json" >/dev/null || fail "manifest.json: wrong Config or RepoTags"
log "  $checked blobs match their digests"

# 2. The image config: user, volume, port, working dir, entry point and command, labels.
expect() { jq -e "${@:2}" "$1" "$config" >/dev/null || fail "image config: expected $1"; }
expect '.os == "linux" and .architecture == "amd64"'
expect '.config.User == "10001:10001"'
expect '.config.Volumes | has("/data")'
expect '.config.ExposedPorts | has("3000/tcp")'
expect '.config.WorkingDir == "/"'
expect '.config.Entrypoint == ["/usr/local/bin/quota-sentinel"]'
expect '.config.Cmd == ["serve"]'
expect '.config.Env | index("QS_LISTEN=0.0.0.0:3000") != null'
expect '.config.Env | map(select(startswith("LEPTOS_SITE_ROOT="))) | length == 1'
expect '.config.Labels["org.opencontainers.image.version"] == $v' --arg v "$version"
expect '.config.Labels["org.opencontainers.image.revision"] | startswith($r)' --arg r "$(git rev-parse HEAD)"

# 3. Both loaders' views read back: the OCI index and docker's manifest.json.
log "importing the archive into buildah (oci-archive and docker-archive)"
oci_id=$(bh pull --quiet "oci-archive:$archive")
docker_id=$(bh pull --quiet "docker-archive:$archive")
if [ -z "$oci_id" ] || [ "$oci_id" != "$docker_id" ]; then
  fail "the OCI and docker views are different images ($oci_id, $docker_id)"
fi
bh inspect --type image "$oci_id" | jq -e '.OCIv1.config.Cmd == ["serve"]' >/dev/null ||
  fail "buildah reads a different config from the archive"

# 4. The image's root, mounted, and the gateway started inside it as the image's user.
bh from --name "$ctr" --pull=never "$oci_id" >/dev/null
mnt=$(bh mount "$ctr")
[ -d "$mnt/data" ] || fail "no /data in the image"
[ "$(stat -c %u:%g "$mnt/data")" = "10001:10001" ] || fail "/data is not owned by 10001:10001"
[ -z "$(ls -A "$mnt/data")" ] || fail "/data is not empty in the image"
entry=$(jq -r '.config.Entrypoint[0]' "$config")
[ -x "$mnt$entry" ] || fail "the entry point $entry is not in the image"
mapfile -t env_list < <(jq -r '.config.Env[]' "$config")
mapfile -t cmd < <(jq -r '(.config.Entrypoint + .config.Cmd)[]' "$config")
user=$(jq -r '.config.User' "$config")

# Loopback only, on a port the kernel picks; the address is read from the log line.
log "starting ${cmd[*]} as $user inside the image's root (chroot)"
chroot_bin=$(command -v chroot) || fail "no chroot on PATH"
env -i "${env_list[@]}" QS_LISTEN=127.0.0.1:0 QS_LOG=info \
  "$chroot_bin" --userspec="$user" "$mnt" "${cmd[@]}" \
  >"$work/stdout" 2>"$work/stderr" </dev/null &
server_pid=$!
show_log() { printf -- '--- gateway log (stderr) ---\n' >&2; cat "$work/stderr" >&2; }

addr=
deadline=$((SECONDS + 30))
while [ -z "$addr" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then show_log; fail "the gateway exited before listening"; fi
  [ $SECONDS -lt $deadline ] || { show_log; fail "the gateway did not listen within 30 s"; }
  addr=$(grep -o 'addr=127\.0\.0\.1:[0-9]\+' "$work/stderr" | head -n1 | cut -d= -f2 || true)
  [ -n "$addr" ] || sleep 0.2
done
base="http://$addr"
get() { curl -sS --max-time 10 -o "$work/body" -w '%{http_code} %{content_type}' "$base$1"; }

until [ "$(get /healthz 2>/dev/null | cut -d' ' -f1)" = 200 ]; do
  kill -0 "$server_pid" 2>/dev/null || { show_log; fail "the gateway exited before /healthz answered"; }
  [ $SECONDS -lt $deadline ] || { show_log; fail "/healthz did not answer 200 within 30 s"; }
  sleep 0.2
done
jq -e '.status == "ok"' "$work/body" >/dev/null || { show_log; fail "/healthz: $(head -c 200 "$work/body")"; }
log "  GET /healthz: 200 $(cat "$work/body")"

out=$(get /login) || { show_log; fail "GET /login failed"; }
read -r code ctype <<<"$out"
[ "$code" = 200 ] || { show_log; fail "GET /login answered $code"; }
[[ "$ctype" == text/html* ]] || fail "GET /login is $ctype, not HTML"
grep -qi '<html' "$work/body" || fail "GET /login: no <html> in the page"
grep -q '/pkg/quota-sentinel' "$work/body" || fail "GET /login: the page loads no /pkg/quota-sentinel bundle"
log "  GET /login: 200 $ctype"

# The site's files come from LEPTOS_SITE_ROOT inside the image.
out=$(get /pkg/quota-sentinel.wasm) || fail "GET /pkg/quota-sentinel.wasm failed"
read -r code ctype <<<"$out"
[ "$code" = 200 ] || fail "GET /pkg/quota-sentinel.wasm answered $code"
[ "$(head -c4 "$work/body" | od -An -tx1 | tr -d ' ')" = 0061736d ] ||
  fail "GET /pkg/quota-sentinel.wasm is not WebAssembly"
log "  GET /pkg/quota-sentinel.wasm: 200 $ctype"

# The default database lives in the volume, owned by the image's user.
db="$mnt/data/quota-sentinel.db"
[ -f "$db" ] || { show_log; fail "no database at /data/quota-sentinel.db"; }
[ "$(stat -c %u:%g "$db")" = "10001:10001" ] || fail "/data/quota-sentinel.db is not owned by 10001:10001"
# A fresh root has no workspace and no admin key: the first-run link goes to stdout (not shown:
# it carries a token).
grep -q '^First run: ' "$work/stdout" || fail "no first-run setup line on stdout"

kill -TERM "$server_pid"
for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then show_log; fail "the gateway did not stop within 10 s of SIGTERM"; fi
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || { show_log; fail "the gateway exited with $rc after SIGTERM"; }

log "ok: $(du -h "$archive" | cut -f1) archive, gateway served from the image's root ($(($(date +%s) - started)) s)"
