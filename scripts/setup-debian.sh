#!/usr/bin/env bash
# Installs what AuraMedia needs on Debian 12, only when missing: FFmpeg 5.1's libav* development packages,
# SQLite, pkg-config, and (for tests, fixtures and benchmarks only) the ffmpeg CLI and python3.
# The Swift toolchain (6.x) is expected on PATH.
set -euo pipefail

need=()
pkg-config --exists libavformat libavcodec libavutil libswscale libswresample 2>/dev/null \
  || need+=(libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v python3 >/dev/null || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" pkg-config >/dev/null
fi
command -v swift >/dev/null || { echo "setup: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }
