#!/usr/bin/env bash
# Debian packages the test harness and the demo need: Prometheus, openssl (certificates), tmux (a
# terminal test of the plugin). Installs only what is missing; needs root (or sudo) when it installs.
set -euo pipefail
missing=()
for pair in prometheus:prometheus openssl:openssl tmux:tmux; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
