#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (when needed) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
swift build --build-tests
swift test --skip-build
