#!/bin/sh
# Vendor the dashboard's chart library from the npm registry into the package,
# so neither CI nor a running dashboard ever needs npm or a CDN.
# Usage: scripts/vendor_js.sh   (writes src/corral/dashboard/static/vendor/)
set -eu
UPLOT_VERSION=1.6.32
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/src/corral/dashboard/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null && tar -xzf "uplot-$UPLOT_VERSION.tgz")
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
mv "$dest/LICENSE" "$dest/uPlot.LICENSE"
{
  echo "uplot $UPLOT_VERSION from the npm registry (npm pack uplot@$UPLOT_VERSION), by scripts/vendor_js.sh"
  echo "tarball sha256: $(sha256sum "$tmp/uplot-$UPLOT_VERSION.tgz" | cut -d' ' -f1)"
  (cd "$dest" && sha256sum uPlot.iife.min.js uPlot.min.css uPlot.LICENSE)
} > "$dest/VENDORED.txt"
cat "$dest/VENDORED.txt"
