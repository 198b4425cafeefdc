#!/usr/bin/env bash
# Vendors the GraphiQL playground's assets from npm (pinned versions) into
# infra/graphiql/assets, where go:embed puts them in the binary: the playground then loads
# nothing from the internet. Run it only to change the versions; commit the result.
set -euo pipefail
GRAPHIQL=3.8.3
REACT=18.3.1
dest="$(cd "$(dirname "$0")/.." && pwd)/infra/graphiql/assets"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}" --strip-components=1; done
cp "graphiql-$GRAPHIQL/graphiql.min.js" "graphiql-$GRAPHIQL/graphiql.min.css" "$dest/"
cp "react-$REACT/umd/react.production.min.js" "react-dom-$REACT/umd/react-dom.production.min.js" "$dest/"
{
  echo "GraphiQL $GRAPHIQL, React $REACT and ReactDOM $REACT, from the npm registry (MIT licences below)."
  for p in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do echo; echo "== $p"; cat "$p/LICENSE"; done
} > "$dest/LICENSES.txt"
(cd "$dest" && sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js > SHA256SUMS)
echo "vendored into $dest"
