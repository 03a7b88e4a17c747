#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (when needed) and runs the whole test suite: Swift unit and end-to-end tests,
# then the clients' tests against the built binary.
# The transport's and the job queues' unit tests run first on their own: they time cancellation and ordering, so
# they get a quiet process instead of sharing the concurrency pool with suites that transcode (a JobQueue test once
# ran past its one-minute limit there). The protocol fuzzing (100,000 inputs, each a
# burst of tasks) runs on its own next, so that it neither starves nor is starved by the end-to-end suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
# The tree is formatted with the toolchain's swift-format (.swift-format); unformatted code fails here, first.
# `swift format --in-place --recursive --parallel Package.swift Sources Tests` formats it.
swift format lint --strict --recursive --parallel Package.swift Sources Tests
swift build --build-tests
swift test --skip-build --filter "JSONRPCTests|JobsTests"
swift test --skip-build --filter FuzzTests
# The module tests, then the end-to-end tests, each in a process of its own. Swift Testing starts every test of a
# process at once, so a test's time there is close to the whole process's: smaller processes keep each test's time
# near its own work, far inside its time limit on a machine two or three times slower than the developers'.
swift test --skip-build --skip JSONRPCTests --skip JobsTests --skip FuzzTests --skip EndToEndTests --skip FarmTests
# The farm (issue 20): its catalogue and queue, and real workers, against a throwaway PostgreSQL cluster (an
# unprivileged owner, a free loopback port, a database per test), stopped when the tests end.
farm_cluster="$(bash scripts/pg-test-cluster.sh start)"
trap 'bash scripts/pg-test-cluster.sh stop "${farm_cluster#* }"' EXIT
AURA_FARM_TEST_CLUSTER="$farm_cluster" swift test --skip-build --filter FarmTests
swift test --skip-build --filter EndToEndTests --skip CrashSafetyEndToEndTests --skip HostileInputEndToEndTests
# Crashes, floods and hostile media: servers killed, 10,000-request bursts, minutes of audio; in a process of their own
# so that their load does not starve the timed suites above.
swift test --skip-build --filter "CrashSafetyEndToEndTests|HostileInputEndToEndTests"
# The clients, against the binary just built.
AURA_MEDIA_BINARY="$PWD/.build/debug/aura-media" python3 -m pytest -q -p no:cacheprovider clients/python
AURA_MEDIA_BINARY="$PWD/.build/debug/aura-media" AURA_WEB_SCREENSHOTS="$PWD/.build/test-output/web-demo" \
  python3 -m pytest -q -p no:cacheprovider clients/web/tests
(cd clients/typescript && AURA_MEDIA_BINARY="$OLDPWD/.build/debug/aura-media" node --experimental-websocket --test test/)
