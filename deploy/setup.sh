#!/usr/bin/env bash
# Everything a fresh machine needs: a venv with the pinned Python dependencies and the broker's jars.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
deploy/kafka.sh fetch
# The dashboard's browser test and `make run --screenshot` drive Debian's Chromium (never a
# browser download of Playwright's own); CJK fonts make the Chinese labels legible. The tests
# also run shellcheck on deploy/kafka.sh.
if ! command -v chromium >/dev/null || ! command -v shellcheck >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk shellcheck >/dev/null
  else
    echo "setup: missing (as root: apt-get install chromium fonts-noto-cjk shellcheck)" >&2
  fi
fi
