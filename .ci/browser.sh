#!/bin/sh
# Debian's Chromium for the Playwright tests; never a browser download of Playwright's own.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        >/dev/null 2>&1 || echo "could not install chromium: browser tests will be skipped"
else
    echo "chromium not installed (apt-get install chromium): browser tests will be skipped"
fi
