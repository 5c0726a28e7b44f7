#!/usr/bin/env bash
# Every test of pgchat, from a fresh clone on a fresh Debian (or Ubuntu) machine:
# installs what is missing, then runs the checks and the whole suite.
#
#   scripts/test.sh            # as root, or as a user who may sudo
#
# What it installs when absent (each test that needs a tool fails rather than
# skips without it, so this is the list):
#   - Rust (rustup, stable, with rustfmt and clippy) and a C compiler (ring, aws-lc);
#   - PostgreSQL's server binaries: the tests start their own clusters with
#     initdb/pg_ctl (the shared one, and TLS-only ones in tests/api/tls.rs);
#   - Chromium and Node.js with tests/browser's npm packages (tests/browser.rs),
#     tests/stomp's (tests/stomp.rs: the STOMP and SockJS clients) and
#     tests/supabase's (tests/supabase.rs: the real Supabase clients);
#   - s3s-fs, an S3 server that checks signatures (tests/api/attachments.rs);
#   - nginx, the load balancer of tests/api/load_balancer.rs;
#   - Python's aiosmtpd, the SMTP server of tests/api/email.rs (tests/smtp_sink.py).
# DATABASE_URL is left unset: the tests use a private cluster under the temp folder.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

export DEBIAN_FRONTEND=noninteractive
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update
    apt_updated=1
  fi
  as_root apt-get install -y --no-install-recommends "$@"
}

have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# --- build tools ------------------------------------------------------------------
step "Rust and a C compiler"
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v git >/dev/null 2>&1 || missing+=(git)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  # Debian's own rustc is older than Cargo.toml's rust-version: use rustup.
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --component rustfmt,clippy
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null
fi

# --- PostgreSQL ---------------------------------------------------------------------
step "PostgreSQL server binaries"
if ! have_initdb; then
  apt_install postgresql
  # Debian starts a cluster on port 5432 at install; the tests do not use it.
fi

# --- browser tests ------------------------------------------------------------------
step "Chromium and Node.js (browser tests)"
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
step "npm ci (tests/browser: playwright-core, no browser download)"
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
step "npm ci (tests/stomp: @stomp/stompjs, sockjs-client, ws)"
(cd tests/stomp && npm ci --no-audit --no-fund)
step "npm ci (tests/supabase: supabase-js, realtime-js, ws, pg)"
(cd tests/supabase && npm ci --no-audit --no-fund)

# --- attachment tests: an S3-compatible server ------------------------------------
# s3s-fs verifies SigV4 signatures and the expiry of presigned URLs (moto does
# not). 0.14 is the last release for this rustc.
step "s3s-fs (S3 server for the attachment tests)"
if ! command -v s3s-fs >/dev/null 2>&1; then
  cargo install 's3s-fs@^0.14' --features binary --locked
fi

# --- load-balancer test: nginx ------------------------------------------------------
# tests/api/load_balancer.rs starts nginx itself with a config of its own; the
# package's own service is not needed (and may not start in a container).
step "nginx (load-balancer test)"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt_install nginx
fi

# --- email tests: a real SMTP server ---------------------------------------------
# tests/api/email.rs starts tests/smtp_sink.py (aiosmtpd) on a free port itself.
step "aiosmtpd (SMTP server for the email tests)"
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || apt_install python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  # Debian's own Python refuses pip outside a virtualenv (PEP 668) unless told.
  python3 -m pip install aiosmtpd || python3 -m pip install --break-system-packages aiosmtpd
fi

# --- versions -------------------------------------------------------------------------
step "versions"
rustc --version
cargo --version
if command -v initdb >/dev/null 2>&1; then
  initdb --version
else
  for bin in /usr/lib/postgresql/*/bin/initdb; do "$bin" --version; done
fi
node --version
/usr/bin/chromium --version
/usr/sbin/nginx -v
python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'

# --- checks and tests -----------------------------------------------------------------
step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

unset DATABASE_URL
step "cargo test"
cargo test "$@"
