#!/usr/bin/env bash
# Builds the local Docker images the test suites need, without any registry:
#
#   $FIXTURES_TEST_POSTGRES_IMAGE (default fixtures-local/postgres:15)
#       Debian bookworm minbase + postgresql-15 made with debootstrap, with an
#       entrypoint that follows the official postgres image's contract.
#   $FIXTURES_TEST_SVC_IMAGE (default fixtures-local/testsvc:latest)
#       tools/testsvc built with cargo, plus the shared libraries it links.
#   $FIXTURES_TEST_REDIS_IMAGE (default fixtures-local/redis:7)
#       Debian bookworm minbase + redis-server made with debootstrap; runs
#       redis-server in the foreground on 0.0.0.0:6379, 256 databases, no persistence.
#
#   fixtures-local/postgres:13 and fixtures-local/postgres:17 (asked for by name:
#       postgres13, postgres17): the same recipe on bullseye's postgresql-13 and
#       trixie's postgresql-17, for runs against other server versions.
#
# Usage: scripts/build-images.sh [--force] [postgres] [testsvc] [redis] [postgres13] [postgres17]
#   With no image named, the first three are built. An image that already exists is
#   kept unless --force is given, or its recipe / binary checksum label is stale.
#
# Exit codes: 0 ok, 1 build failure, 2 Docker unavailable, 64 bad usage.
# See scripts/README.md.
set -euo pipefail

PG_IMAGE="${FIXTURES_TEST_POSTGRES_IMAGE:-fixtures-local/postgres:15}"
SVC_IMAGE="${FIXTURES_TEST_SVC_IMAGE:-fixtures-local/testsvc:latest}"
REDIS_IMAGE="${FIXTURES_TEST_REDIS_IMAGE:-fixtures-local/redis:7}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE=bookworm
PG_MAJOR=15
DEFAULT_MIRROR=http://deb.debian.org/debian
MANAGED_LABEL=org.fixtures.managed-image=true

log() { printf '[build-images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

force=0
want_pg=0
want_svc=0
want_redis=0
other_majors=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    postgres) want_pg=1 ;;
    testsvc) want_svc=1 ;;
    redis) want_redis=1 ;;
    postgres13|postgres17) other_majors+=("${arg#postgres}") ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) log "unknown argument: $arg (usage: $0 [--force] [postgres] [testsvc] [redis] [postgres13] [postgres17])"; exit 64 ;;
  esac
done
if [ "$want_pg$want_svc$want_redis" = 000 ] && [ "${#other_majors[@]}" = 0 ]; then
  want_pg=1; want_svc=1; want_redis=1
fi

command -v docker >/dev/null 2>&1 || { log "docker CLI not found: cannot build images"; exit 2; }
if ! docker info >/dev/null 2>&1; then
  log "Docker daemon not reachable ('docker info' failed): cannot build images"
  exit 2
fi

# Serialise concurrent runs (e.g. several test processes calling this at once).
lock="${TMPDIR:-/tmp}/fixtures-build-images.lock"
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
  flock 9 || die "cannot lock $lock"
fi

# Work on a disk with room: the rootfs needs about 700 MB before pruning.
pick_workdir_parent() {
  local d avail
  for d in "${FIXTURES_BUILD_TMPDIR:-}" /var/tmp "${TMPDIR:-/tmp}" "$ROOT/target"; do
    [ -n "$d" ] || continue
    mkdir -p "$d" 2>/dev/null || continue
    avail=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')
    if [ -n "$avail" ] && [ "$avail" -ge 2000000 ]; then echo "$d"; return 0; fi
  done
  return 1
}

WORK=""
cleanup() {
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    log "removing work dir $WORK"
    rm -rf --one-file-system "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_workdir() {
  local parent
  parent=$(pick_workdir_parent) || die "no directory with 2 GB free (set FIXTURES_BUILD_TMPDIR)"
  WORK=$(mktemp -d "$parent/fixtures-images.XXXXXX")
  log "work dir: $WORK"
}

image_label() { # image label -> value, empty when the image or label is missing
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//'
}

remove_replaced() { # old-image-id name: drop the image a rebuild replaced, if unused
  local new
  [ -n "$1" ] || return 0
  new=$(docker image inspect -f '{{.Id}}' "$2" 2>/dev/null || true)
  if [ "$1" != "$new" ]; then
    # Images the framework derived from it (a data directory made once) go with it.
    docker images -q --no-trunc --filter "label=org.fixtures.derived-from-id=$1" \
      | xargs -r docker image rm -f >/dev/null 2>&1 || true
    if docker image rm "$1" >/dev/null 2>&1; then log "removed the replaced image ${1:7:12}"; fi
  fi
}

# ---------------------------------------------------------------- postgres --

# The entrypoint put in the image. Kept here so that its checksum, stored as a
# label, makes a changed recipe rebuild the image.
read -r -d '' PG_ENTRYPOINT <<'ENTRYPOINT' || true
#!/bin/bash
# Entrypoint of the fixtures postgres image (Debian's postgresql-15), after the
# official postgres image's contract: POSTGRES_USER (default postgres),
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD
# (default scram-sha-256), PGDATA (default /var/lib/postgresql/data), *_FILE
# variants, and /docker-entrypoint-initdb.d/*.sql|*.sh. The data directory is
# initialised at start, so an empty volume or tmpfs works.
set -Eeo pipefail

file_env() { # VAR [default]: VAR or the contents of VAR_FILE
  local var="$1" fvar="${1}_FILE" def="${2:-}" val
  if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
    echo >&2 "error: both $var and $fvar are set (but are exclusive)"; exit 1
  fi
  val="$def"
  if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!fvar:-}" ]; then val="$(< "${!fvar}")"; fi
  export "$var"="$val"
  unset "$fvar"
}

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

# `docker run IMAGE -c fsync=off` means `postgres -c fsync=off`.
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  # A fresh tmpfs or volume mount point is owned by root: hand it over.
  mkdir -p "$PGDATA" /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 0700 "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  export HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    cat >&2 <<'EOE'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       Or set POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without
       a password (not recommended outside tests).
EOE
    exit 1
  fi
  mkdir -p "$PGDATA"; chmod 0700 "$PGDATA" 2>/dev/null || true
  pwargs=()
  if [ -n "$POSTGRES_PASSWORD" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    pwargs=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
  initdb --username="$POSTGRES_USER" "${pwargs[@]}" --auth-local=trust --auth-host="$auth" \
    $POSTGRES_INITDB_ARGS
  if [ -n "${pwfile:-}" ]; then rm -f "$pwfile"; fi
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  # Like the official image: a temporary server on the unix socket only, to
  # create the database and run the init scripts.
  export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
  psql_cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ "$POSTGRES_DB" != postgres ]; then
    exists=$("${psql_cmd[@]}" --dbname postgres -tA --set db="$POSTGRES_DB" \
      <<< "SELECT 1 FROM pg_database WHERE datname = :'db';" || true)
    if [ -z "$exists" ]; then
      "${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB" <<< 'CREATE DATABASE :"db";'
    fi
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "$0: running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql_cmd[@]}" --dbname "$POSTGRES_DB" ;;
      *) [ -e "$f" ] && echo "$0: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGPASSWORD
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
else
  echo
  echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
  echo
fi

exec "$@"
ENTRYPOINT

PG_PATH="/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The Debian mirror this machine's apt uses, else debootstrap's default.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -hoE '^[[:space:]]*(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' "$f" \
      | grep -oE 'https?://[^[:space:]]+' | sed 's:/*$::' | head -n1
  done | head -n1
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "debootstrap is missing and we are not root: install it (apt-get install debootstrap)"
  log "installing debootstrap with apt-get"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || die "apt-get install debootstrap failed"
}

build_postgres() {
  # The recipe: entrypoint, settings and this function's own text, so that any
  # change to how the image is made rebuilds it.
  local PG_RECIPE_SHA
  PG_RECIPE_SHA=$({ printf '%s\n%s %s %s\n' "$PG_ENTRYPOINT" "$SUITE" "$PG_MAJOR" "$PG_PATH"
    declare -f build_postgres; } | sha256sum | cut -d' ' -f1)
  if [ "$force" = 0 ] && docker image inspect "$PG_IMAGE" >/dev/null 2>&1; then
    if [ "$(image_label "$PG_IMAGE" org.fixtures.recipe-sha256)" = "$PG_RECIPE_SHA" ]; then
      log "$PG_IMAGE exists and is up to date: skipping (use --force to rebuild)"
      return 0
    fi
    log "$PG_IMAGE exists but its recipe changed: rebuilding"
  fi
  [ "$(id -u)" = 0 ] || die "building $PG_IMAGE needs root (debootstrap, chroot)"
  ensure_debootstrap
  [ -n "$WORK" ] || make_workdir
  local dir="$WORK/postgres-rootfs" mirror t0 t1 t2
  mirror=$(apt_mirror || true)
  mirror="${FIXTURES_DEBIAN_MIRROR:-${mirror:-$DEFAULT_MIRROR}}"

  t0=$(date +%s)
  log "debootstrap --variant=minbase --include=postgresql-$PG_MAJOR $SUITE from $mirror"
  if ! debootstrap --variant=minbase --include="postgresql-$PG_MAJOR" "$SUITE" "$dir" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
    if [ "$mirror" != "$DEFAULT_MIRROR" ]; then
      log "debootstrap from $mirror failed (tail of log below); retrying with $DEFAULT_MIRROR"
      tail -n 5 "$WORK/debootstrap.log" >&2 || true
      rm -rf --one-file-system "$dir"
      debootstrap --variant=minbase --include="postgresql-$PG_MAJOR" "$SUITE" "$dir" "$DEFAULT_MIRROR" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    else
      tail -n 20 "$WORK/debootstrap.log" >&2
      die "debootstrap failed"
    fi
  fi
  t1=$(date +%s)
  log "debootstrap done in $((t1 - t0)) s"

  [ -x "$dir/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ] || die "postgres binary missing from rootfs"
  [ -x "$dir/usr/bin/setpriv" ] || die "setpriv missing from rootfs (util-linux)"

  log "configuring and pruning the rootfs"
  # No cluster of Debian's own; the entrypoint makes one in $PGDATA.
  rm -rf "$dir/var/lib/postgresql/$PG_MAJOR" "$dir/etc/postgresql/$PG_MAJOR"
  mkdir -p "$dir/var/lib/postgresql/data" "$dir/run/postgresql" "$dir/docker-entrypoint-initdb.d"
  chroot "$dir" chown -R postgres:postgres /var/lib/postgresql /run/postgresql
  # 1777 like the official image: a tmpfs/volume mounted here inherits the mode,
  # so a PGDATA below it (e.g. .../data/pgdata) stays reachable for postgres.
  chmod 1777 "$dir/var/lib/postgresql/data"
  chmod 3777 "$dir/run/postgresql"
  printf '%s\n' "$PG_ENTRYPOINT" > "$dir/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"
  ln -sf usr/local/bin/docker-entrypoint.sh "$dir/docker-entrypoint.sh"
  # JIT (LLVM, ~150 MB) is dropped: without llvmjit.so PostgreSQL quietly runs
  # without JIT, as it does when jit = off.
  rm -rf "$dir/usr/lib/postgresql/$PG_MAJOR/lib/llvmjit"* "$dir/usr/lib/postgresql/$PG_MAJOR/lib/bitcode"
  chroot "$dir" dpkg --purge --force-depends libllvm14 libz3-4 >/dev/null 2>&1 \
    || log "note: could not purge libllvm14/libz3-4 (kept)"
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/usr/share/lintian "$dir"/var/lib/apt/lists/* \
    "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old \
    "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* "$dir"/root/.cache
  find "$dir/usr/lib/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf '{}' +
  : > "$dir/etc/hostname"
  t2=$(date +%s)

  log "importing $PG_IMAGE ($(du -sh "$dir" | cut -f1) rootfs)"
  local old_id new_id
  old_id=$(docker image inspect -f '{{.Id}}' "$PG_IMAGE" 2>/dev/null || true)
  # `docker import --change` does not take STOPSIGNAL: import untagged, then
  # add it with a metadata-only build (legacy builder: no registry involved).
  new_id=$(tar --numeric-owner -C "$dir" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change "ENV PATH=$PG_PATH" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'EXPOSE 5432' \
    --change "LABEL $MANAGED_LABEL" \
    --change "LABEL org.fixtures.recipe-sha256=$PG_RECIPE_SHA" \
    --change "LABEL org.fixtures.debian-mirror=$mirror" \
    -) || die "docker import of $PG_IMAGE failed"
  if ! printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$new_id" \
      | DOCKER_BUILDKIT=0 docker build -q -t "$PG_IMAGE" - >/dev/null 2>"$WORK/build.log"; then
    log "warning: could not add STOPSIGNAL SIGINT ($(tail -n1 "$WORK/build.log")); tagging the import as is"
    docker tag "$new_id" "$PG_IMAGE" || die "docker tag $PG_IMAGE failed"
  fi
  remove_replaced "$old_id" "$PG_IMAGE"
  log "built $PG_IMAGE: debootstrap $((t1 - t0)) s, import $(($(date +%s) - t2)) s, size $(docker image inspect -f '{{.Size}}' "$PG_IMAGE") bytes"
  rm -rf --one-file-system "$dir"
}

# ----------------------------------------------------------------- testsvc --

build_testsvc() {
  local bin="${FIXTURES_TESTSVC_BIN:-}" sha have dir lib t0
  if [ -z "$bin" ]; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or set FIXTURES_TESTSVC_BIN to a built testsvc)"
    log "cargo build --release -p testsvc"
    (cd "$ROOT" && cargo build --release -p testsvc) >&2 || die "cargo build of testsvc failed"
    bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/testsvc"
  fi
  [ -x "$bin" ] || die "testsvc binary not found at $bin"
  sha=$(sha256sum "$bin" | cut -d' ' -f1)
  if [ "$force" = 0 ] && docker image inspect "$SVC_IMAGE" >/dev/null 2>&1; then
    have=$(image_label "$SVC_IMAGE" org.fixtures.testsvc.sha256)
    if [ "$have" = "$sha" ]; then
      log "$SVC_IMAGE exists with the same binary (sha256 ${sha:0:12}): skipping (use --force to rebuild)"
      return 0
    fi
    log "$SVC_IMAGE has binary ${have:0:12}, now ${sha:0:12}: rebuilding"
  fi
  t0=$(date +%s)
  [ -n "$WORK" ] || make_workdir
  dir="$WORK/testsvc-rootfs"
  mkdir -p "$dir/etc" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  install -m 0755 "$bin" "$dir/testsvc"
  # Shared libraries and the loader, at the paths ldd reports.
  while read -r lib; do
    [ -n "$lib" ] || continue
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done < <(ldd "$bin" | grep -oE '/[^[:space:]]+' | sort -u)
  printf 'root:x:0:0:root:/:/testsvc\nnobody:x:65534:65534:nobody:/:/testsvc\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
  printf 'hosts: files dns\n' > "$dir/etc/nsswitch.conf"
  : > "$dir/etc/hosts"; : > "$dir/etc/resolv.conf"; : > "$dir/etc/hostname"
  log "importing $SVC_IMAGE ($(du -sh "$dir" | cut -f1) rootfs)"
  local old_id
  old_id=$(docker image inspect -f '{{.Id}}' "$SVC_IMAGE" 2>/dev/null || true)
  tar --numeric-owner --owner=0 --group=0 -C "$dir" -c . | docker import \
    --change 'ENTRYPOINT ["/testsvc"]' \
    --change 'EXPOSE 8080' \
    --change 'ENV TESTSVC_PORT=8080' \
    --change "LABEL $MANAGED_LABEL" \
    --change "LABEL org.fixtures.testsvc.sha256=$sha" \
    - "$SVC_IMAGE" >/dev/null || die "docker import of $SVC_IMAGE failed"
  remove_replaced "$old_id" "$SVC_IMAGE"
  log "built $SVC_IMAGE in $(($(date +%s) - t0)) s, size $(docker image inspect -f '{{.Size}}' "$SVC_IMAGE") bytes"
  rm -rf --one-file-system "$dir"
}

# ------------------------------------------------------------------- redis --

REDIS_SUITE=bookworm
REDIS_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The entrypoint put in the image (its checksum is part of the recipe label).
read -r -d '' REDIS_ENTRYPOINT <<'ENTRYPOINT' || true
#!/bin/bash
# Entrypoint of the fixtures redis image (Debian's redis-server), after the
# official redis image's contract: `docker run IMAGE --maxmemory 1mb` and
# `docker run IMAGE redis-server --maxmemory 1mb` both run redis-server with
# those arguments; a first argument ending in .conf is a config file; any other
# command runs as given. The server runs in the foreground as user redis, logs
# to stdout ("Ready to accept connections" once it serves), listens on
# 0.0.0.0:6379 without protected mode, keeps nothing (no RDB, no AOF) and has
# 256 databases. Arguments come after these defaults, so they override them.
set -Eeo pipefail

if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "${1:-}" ]; then set -- redis-server "$@"; fi
if [ "${1:-}" != redis-server ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  # A fresh volume or tmpfs at /data is owned by root: hand it over.
  mkdir -p /data
  find /data \! -user redis -exec chown redis:redis '{}' +
  export HOME=/var/lib/redis USER=redis LOGNAME=redis
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

shift
conf=()
if [ "${1%.conf}" != "${1:-}" ]; then conf=("$1"); shift; fi
exec redis-server "${conf[@]}" --bind 0.0.0.0 --port 6379 --protected-mode no \
  --save '' --appendonly no --databases 256 --dir /data "$@"
ENTRYPOINT

# debootstrap of `suite` with `packages` into `dir`, from this machine's mirror
# and, if that fails, from deb.debian.org. Sets BOOTSTRAP_MIRROR to the one used.
# (build_postgres keeps its own copy of these steps: its recipe label, and so
# the postgres image, stays as it is.)
debootstrap_rootfs() { # dir suite packages
  local dir="$1" suite="$2" packages="$3" mirror
  mirror=$(apt_mirror || true)
  mirror="${FIXTURES_DEBIAN_MIRROR:-${mirror:-$DEFAULT_MIRROR}}"
  log "debootstrap --variant=minbase --include=$packages $suite from $mirror"
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
    [ "$mirror" != "$DEFAULT_MIRROR" ] || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    log "debootstrap from $mirror failed (tail of log below); retrying with $DEFAULT_MIRROR"
    tail -n 5 "$WORK/debootstrap.log" >&2 || true
    rm -rf --one-file-system "$dir"
    mirror=$DEFAULT_MIRROR
    debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  fi
  BOOTSTRAP_MIRROR=$mirror
}

build_redis() {
  # The recipe: entrypoint, settings and the text of the functions that make it.
  local REDIS_RECIPE_SHA
  REDIS_RECIPE_SHA=$({ printf '%s\n%s %s\n' "$REDIS_ENTRYPOINT" "$REDIS_SUITE" "$REDIS_PATH"
    declare -f build_redis debootstrap_rootfs; } | sha256sum | cut -d' ' -f1)
  if [ "$force" = 0 ] && docker image inspect "$REDIS_IMAGE" >/dev/null 2>&1; then
    if [ "$(image_label "$REDIS_IMAGE" org.fixtures.recipe-sha256)" = "$REDIS_RECIPE_SHA" ]; then
      log "$REDIS_IMAGE exists and is up to date: skipping (use --force to rebuild)"
      return 0
    fi
    log "$REDIS_IMAGE exists but its recipe changed: rebuilding"
  fi
  [ "$(id -u)" = 0 ] || die "building $REDIS_IMAGE needs root (debootstrap, chroot)"
  ensure_debootstrap
  [ -n "$WORK" ] || make_workdir
  local dir="$WORK/redis-rootfs" t0 t1 t2
  t0=$(date +%s)
  debootstrap_rootfs "$dir" "$REDIS_SUITE" redis-server
  t1=$(date +%s)
  log "debootstrap done in $((t1 - t0)) s"

  [ -x "$dir/usr/bin/redis-server" ] || die "redis-server binary missing from rootfs"
  [ -x "$dir/usr/bin/setpriv" ] || die "setpriv missing from rootfs (util-linux)"
  chroot "$dir" id redis >/dev/null 2>&1 || die "user redis missing from rootfs"

  log "configuring and pruning the rootfs"
  mkdir -p "$dir/data"
  chroot "$dir" chown redis:redis /data
  printf '%s\n' "$REDIS_ENTRYPOINT" > "$dir/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"
  ln -sf usr/local/bin/docker-entrypoint.sh "$dir/docker-entrypoint.sh"
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/usr/share/lintian "$dir"/var/lib/apt/lists/* \
    "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old \
    "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* "$dir"/root/.cache
  find "$dir/usr/lib/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf '{}' + 2>/dev/null || true
  : > "$dir/etc/hostname"
  t2=$(date +%s)

  log "importing $REDIS_IMAGE ($(du -sh "$dir" | cut -f1) rootfs)"
  local old_id
  old_id=$(docker image inspect -f '{{.Id}}' "$REDIS_IMAGE" 2>/dev/null || true)
  # redis-server shuts down cleanly on SIGTERM, Docker's default stop signal.
  tar --numeric-owner -C "$dir" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["redis-server"]' \
    --change "ENV PATH=$REDIS_PATH" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change "LABEL $MANAGED_LABEL" \
    --change "LABEL org.fixtures.recipe-sha256=$REDIS_RECIPE_SHA" \
    --change "LABEL org.fixtures.debian-mirror=$BOOTSTRAP_MIRROR" \
    - "$REDIS_IMAGE" >/dev/null || die "docker import of $REDIS_IMAGE failed"
  remove_replaced "$old_id" "$REDIS_IMAGE"
  log "built $REDIS_IMAGE: debootstrap $((t1 - t0)) s, import $(($(date +%s) - t2)) s, size $(docker image inspect -f '{{.Size}}' "$REDIS_IMAGE") bytes"
  rm -rf --one-file-system "$dir"
}

if [ "$want_svc" = 1 ]; then build_testsvc; fi
if [ "$want_pg" = 1 ]; then build_postgres; fi
if [ "$want_redis" = 1 ]; then build_redis; fi
# Other server versions: the same recipe on the Debian release that ships each.
for major in "${other_majors[@]}"; do
  case "$major" in
    13) SUITE=bullseye ;;
    17) SUITE=trixie ;;
  esac
  PG_MAJOR=$major
  PG_IMAGE="fixtures-local/postgres:$major"
  PG_PATH="/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  build_postgres
done
log "done"
