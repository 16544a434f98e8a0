#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real (stunnel4, openssl, socat, prometheus/promtool,
# logrotate, chromium for the status page, xz/zstd/bzip2 for compressed rotations) when they are missing. Needs root (or sudo) and Debian's package
# mirror; does nothing when all are present.
set -euo pipefail
need=()
command -v stunnel4 >/dev/null 2>&1 || need+=(stunnel4)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v logrotate >/dev/null 2>&1 || need+=(logrotate)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
