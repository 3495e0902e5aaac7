#!/bin/sh
# Debian's Chromium for the Playwright tests; never a browser download of Playwright's own.
# Outside CI a machine without it skips the browser tests (one line says so); in CI
# (CI=true) a browser that cannot be installed fails the run instead of hiding those tests.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        >/dev/null 2>&1; then
        exit 0
    fi
    echo "could not install chromium"
else
    echo "chromium not installed (apt-get install chromium)"
fi
if [ "${CI:-}" = "true" ]; then
    echo "CI needs the browser tests: failing" >&2
    exit 1
fi
echo "browser tests will be skipped"
