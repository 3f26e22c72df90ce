#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis the tests use when they are installed but not
# running (CI machines have both; elsewhere the tests that need them say so and skip).
set -u
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile /tmp/r1gate-test-redis.log || true
fi
# Debian packages some tests need: HAProxy and promtool (deploy/), chromium (the console's
# browser tests; Playwright's own browser download is not reachable). CI, running as root,
# installs whichever is missing; elsewhere those tests say so and skip.
if [ -n "${CI:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  command -v haproxy >/dev/null || missing="$missing haproxy"
  command -v promtool >/dev/null || missing="$missing prometheus"
  command -v chromium >/dev/null || missing="$missing chromium"
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
fi
# The Anthropic client tests drive the TypeScript SDK and Claude Code itself (npm packages,
# pinned by the lock file); CI installs them, elsewhere `npm ci` there is optional.
if [ -n "${CI:-}" ] && command -v npm >/dev/null && [ ! -d tests/anthropic/clients/node_modules ]; then
  npm ci --prefix tests/anthropic/clients --no-audit --no-fund --silent || true
fi
exit 0
