#!/usr/bin/env bash
# One command from a fresh clone to a live canary demo: system packages, npm packages, the local
# control plane (built from source the first time, ~7 minutes), then `npm run demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
command -v go >/dev/null 2>&1 || { echo "Go 1.25+ is needed once, to build the local Kubernetes control plane" >&2; exit 1; }
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npm run -s demo
