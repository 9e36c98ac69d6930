#!/usr/bin/env bash
# Runs Tiaki's whole test suite. On a fresh Debian machine (as root) it first installs
# and starts what the tests talk to for real: PostgreSQL, an S3-compatible server
# (s3s-fs), Chromium with its WebDriver, and an SMTP server (Python's aiosmtpd).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $*"
  if [ -z "${APT_UPDATED:-}" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql)
# qpdf: the leak-tracing tests check served PDFs and re-save them as another tool would.
command -v qpdf >/dev/null 2>&1 || missing+=(qpdf)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# aiosmtpd: the real SMTP server the mail tests start (Debian's package; pip if that
# fails). The SMTP test fails under CI=true when it is missing, so install it here.
has_aiosmtpd() {
  python3 -c 'import aiosmtpd' >/dev/null 2>&1 || /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1
}
if ! has_aiosmtpd; then
  apt_install python3-aiosmtpd || true
  if ! has_aiosmtpd; then
    log "installing aiosmtpd with pip"
    python3 -m pip install --quiet --user aiosmtpd \
      || python3 -m pip install --quiet --user --break-system-packages aiosmtpd
  fi
  has_aiosmtpd || { echo "aiosmtpd could not be installed; the SMTP tests need it" >&2; exit 1; }
fi

# PostgreSQL on 127.0.0.1:5432 (TIAKI_TEST_PG_URL overrides where the tests look).
if [ -z "${TIAKI_TEST_PG_URL:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    export TIAKI_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres
  else
    # A fresh install asks for a password on TCP: give the test role one.
    log "setting a password for the postgres role (test use)"
    as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'tiaki-test'\"" >/dev/null
    export TIAKI_TEST_PG_URL=postgres://postgres:tiaki-test@127.0.0.1:5432/postgres
  fi
fi

# An S3-compatible server the blob-store tests start themselves.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v s3s-fs >/dev/null 2>&1; then
  log "installing s3s-fs (S3-compatible test server)"
  cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet
fi

log "cargo test --workspace --no-fail-fast"
cargo test --workspace --no-fail-fast
