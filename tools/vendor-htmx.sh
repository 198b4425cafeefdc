#!/usr/bin/env bash
# Vendors htmx from npm (pinned version) into infra/console/assets, where go:embed puts it in
# the binary: the compliance console then loads nothing from the internet and needs no Node
# at build or run time. Run it only to change the version; commit the result.
set -euo pipefail
HTMX=2.0.4
dest="$(cd "$(dirname "$0")/.." && pwd)/infra/console/assets"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$HTMX" >/dev/null
mkdir htmx && tar xzf "htmx.org-$HTMX.tgz" -C htmx --strip-components=1
cp htmx/dist/htmx.min.js "$dest/"
{
  echo "htmx $HTMX, from the npm registry (Zero-Clause BSD licence below)."
  echo
  cat htmx/LICENSE
} > "$dest/LICENSES.txt"
(cd "$dest" && sha256sum htmx.min.js > SHA256SUMS)
echo "vendored into $dest"
