#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (when needed), builds aura-media in release mode and runs a scripted
# session against it: initialize, probe, proxy generation with progress, quality toggle, stats, shutdown.
# Usage: scripts/demo.sh [MEDIA_FILE]   (without a file, a 20-second 1080p sample clip is made first)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
swift build -c release --product aura-media >&2
exec python3 scripts/demo.py --binary .build/release/aura-media "$@"
