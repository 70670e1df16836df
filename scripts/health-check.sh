#!/bin/sh
# Basic health report of the machine this runs on. Read-only; always exits 0 when it could run.
# Used by `environments check`.
set -u
LC_ALL=C
export LC_ALL

printf 'hostname: %s\n' "$(hostname 2>/dev/null || uname -n)"
printf 'uptime: %s\n' "$(uptime 2>/dev/null || echo unknown)"
echo 'disk usage:'
df -P -h 2>/dev/null || echo 'df unavailable'
echo 'RESULT status=ok'
exit 0
