#!/usr/bin/env bash
# Runs the Swift test suite under a sanitizer: scripts/sanitize.sh thread|address [TestTarget ...]
# (EndToEndTests-heavy names the crash and hostile-input suites, which run apart as in scripts/test.sh).
#
# Builds with --sanitize into .build-<sanitizer>/ (a separate build: about 6 minutes for TSan and 10 for ASan on 2
# cores), then runs each test target in a process of its own. Prints one line per target and exits 1 when any
# target failed or any report was made — the test process's, or one of the sanitized servers the end-to-end tests
# spawn (their reports go to files of their own through log_path, and are counted).
#
# - thread: every shared state is a `Locking.Mutex` (pthread) or an actor, both of which ThreadSanitizer
#   understands; the standard library's Synchronization.Mutex is not used because its futex path is invisible to
#   TSan (README "Sanitizers").
# - address: LeakSanitizer is off (detect_leaks=0): XCTest's harness and a server leaving through exit() keep
#   allocations to the end by design; use-after-free, overflows and double frees are what is checked.
# Tests that time things (cancellation within 2 s, preloading keeping up with a playhead) get AURA_SANITIZER,
# which widens their bounds: a sanitized build runs 2-15 times slower and takes 3 (TSan) to 8 (ASan) times the memory.
set -uo pipefail
cd "$(dirname "$0")/.."
sanitizer="${1:?usage: scripts/sanitize.sh thread|address [TestTarget ...]}"
shift
case "$sanitizer" in thread|address) ;; *) echo "usage: scripts/sanitize.sh thread|address [TestTarget ...]" >&2; exit 2 ;; esac
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(JSONRPCTests FuzzTests JobsTests TelemetryTests MediaTests MediaCacheTests WaveformsTests FramesTests ProxiesTests EndToEndTests EndToEndTests-heavy)
scratch=".build-$sanitizer"
logs="$scratch/sanitizer-logs"
bash scripts/setup-debian.sh
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >&2 || exit 1
mkdir -p "$logs"
export AURA_SANITIZER="$sanitizer" AURA_FUZZ_INPUTS="${AURA_FUZZ_INPUTS:-20000}"
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=0 ${ASAN_OPTIONS:-}"
failed=0
for target in "${targets[@]}"; do
  started=$(date +%s)
  # As scripts/test.sh runs them: the crash and hostile-input suites apart from the other end-to-end suites.
  case "$target" in
    EndToEndTests) filter=(--filter "^EndToEndTests\." --skip "CrashSafetyEndToEndTests|HostileInputEndToEndTests") ;;
    EndToEndTests-heavy) filter=(--filter "CrashSafetyEndToEndTests|HostileInputEndToEndTests") ;;
    *) filter=(--filter "^$target\.") ;;
  esac
  # Reports of the spawned servers go to files of their own (log_path), counted with the test process's.
  rm -rf "$logs/$target.reports" && mkdir -p "$logs/$target.reports"
  TSAN_OPTIONS="$TSAN_OPTIONS log_path=$PWD/$logs/$target.reports/report" \
  ASAN_OPTIONS="$ASAN_OPTIONS log_path=$PWD/$logs/$target.reports/report" \
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "${filter[@]}" > "$logs/$target.log" 2>&1
  status=$?
  reports=$(cat "$logs/$target.log" "$logs/$target.reports"/* 2>/dev/null | grep -c -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer")
  summary=$(grep -E "Test run with" "$logs/$target.log" | tail -1)
  echo "$target: exit $status, $reports sanitizer reports, $(( $(date +%s) - started )) s. $summary"
  if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ]; then failed=1; fi
done
echo "logs: $logs/"
exit $failed
