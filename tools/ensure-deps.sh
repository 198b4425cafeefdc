#!/usr/bin/env bash
# Installs what `make run` and `make test` need and is missing: Go is assumed; Postgres
# server binaries come from Debian's postgresql package when no initdb is found and
# ARKIV_PG_URL does not name an external server; the browser tests drive Debian's chromium
# (headless), installed when /usr/bin/chromium is missing; the private NATS server (JetStream)
# is Debian's nats-server, installed when missing and ARKIV_NATS_URL names no external one.
set -euo pipefail

if ! command -v go >/dev/null 2>&1; then
  echo "arkiv: Go is required (https://go.dev/doc/install); it was not found on PATH" >&2
  exit 1
fi

have_initdb() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

if [ -z "${ARKIV_PG_URL:-}" ] && ! have_initdb; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "arkiv: installing Debian's postgresql package (no initdb found)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  else
    echo "arkiv: Postgres server binaries (initdb, postgres) are missing: install your system's postgresql package, or set ARKIV_PG_URL to an existing server" >&2
    exit 1
  fi
fi

if [ "$(id -u)" = 0 ] && [ -z "${ARKIV_PG_URL:-}" ] && ! id postgres >/dev/null 2>&1; then
  echo "arkiv: running as root needs a 'postgres' system user to run the private cluster (Debian's postgresql package creates it)" >&2
  exit 1
fi

have_nats() {
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -x /usr/bin/nats-server ] || [ -x /usr/local/bin/nats-server ]
}

if [ -z "${ARKIV_NATS_URL:-}" ] && ! have_nats; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "arkiv: installing Debian's nats-server package (no nats-server found)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
  else
    echo "arkiv: nats-server is missing: install your system's nats-server package, or set ARKIV_NATS_URL to an existing server" >&2
    exit 1
  fi
fi

if [ ! -x /usr/bin/chromium ] && [ -z "${ARKIV_SKIP_BROWSER:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "arkiv: installing Debian's chromium package for the browser tests" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "arkiv: the browser tests need Chromium at /usr/bin/chromium: install your system's chromium package" >&2
    exit 1
  fi
fi

# The evidence bundle's test renders report.pdf with pdftoppm (Debian's poppler-utils).
if ! command -v pdftoppm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "arkiv: installing Debian's poppler-utils package (pdftoppm) for the evidence report test" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq poppler-utils >/dev/null
  else
    echo "arkiv: the evidence report test needs pdftoppm: install your system's poppler-utils package" >&2
    exit 1
  fi
fi
