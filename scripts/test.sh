#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (when needed) and runs the whole test suite.
# The transport's unit tests run first on their own: they time cancellation, so they get a quiet process
# instead of sharing the concurrency pool with suites that transcode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
swift build --build-tests
swift test --skip-build --filter JSONRPCTests
swift test --skip-build --skip JSONRPCTests
