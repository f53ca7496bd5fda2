#!/usr/bin/env bash
# Debian packages the test harness and the demo need: Prometheus, openssl (certificates), iproute2 (`ip`
# makes the pod IP range local), tmux (a terminal test of the plugin), Lua 5.1 with cjson (the Argo CD
# health scripts' tests), git with its git-http-backend (the Git server Flux syncs from in the GitOps
# tests), chromium (the dashboard's browser test drives it through playwright-core). Installs only what is
# missing; needs root (or sudo) when it installs.
set -euo pipefail
missing=()
has() { "$@" >/dev/null 2>&1; }
has command -v prometheus || missing+=(prometheus)
has command -v openssl || missing+=(openssl)
has command -v ip || missing+=(iproute2)
has command -v tmux || missing+=(tmux)
has command -v git || missing+=(git)
has command -v lua5.1 || missing+=(lua5.1)
has lua5.1 -e 'require "cjson"' || missing+=(lua-cjson)
has command -v chromium || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
