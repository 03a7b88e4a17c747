#!/usr/bin/env bash
# Installs what AuraMedia needs on Debian 12, only when missing: FFmpeg 5.1's libav* development packages (libavfilter
# for colour management and deinterlacing: zscale, tonemap, bwdif, idet),
# SQLite, pkg-config, and (for tests, fixtures and benchmarks only) the ffmpeg CLI, python3 and PostgreSQL.
# The Swift toolchain (6.x) is expected on PATH.
set -euo pipefail

need=()
pkg-config --exists libavformat libavcodec libavutil libswscale libswresample libavfilter 2>/dev/null \
  || need+=(libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v python3 >/dev/null || need+=(python3)
command -v node >/dev/null || need+=(nodejs)  # the TypeScript client's tests (node --test)
# The farm's tests run a throwaway PostgreSQL cluster (scripts/pg-test-cluster.sh); a studio's farm uses its own server.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ "${AURA_SETUP_BROWSER:-1}" = 1 ]; then  # the web demo's test: headless Chromium
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" pkg-config >/dev/null
fi
command -v swift >/dev/null || { echo "setup: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }

# The Python client's and the web demo's tests run under pytest, the demo's with selenium (PyPI; Debian's packages
# when pip may not install).
for module in pytest selenium; do
  if [ "${AURA_SETUP_PYTEST:-1}" = 1 ] && ! python3 -c "import $module" 2>/dev/null; then
    echo "setup: installing $module" >&2
    python3 -m pip install --quiet "$module" 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages "$module" 2>/dev/null \
      || { SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "python3-$module" >/dev/null; }
  fi
done
