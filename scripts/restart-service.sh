#!/bin/sh
# Usage: restart-service.sh [--dry-run] <unit>
# Restarts a systemd service after validating its name (a service, never a target, mount or slice).
# --dry-run only validates.
set -eu
LC_ALL=C
export LC_ALL

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
if [ "$#" -ne 1 ]; then
  echo 'usage: restart-service.sh [--dry-run] <unit>' >&2
  exit 2
fi
unit=$1

# ^[A-Za-z0-9@._-]+$ and not starting with '-' (it would look like an option).
case "$unit" in
  ''|-*|*[!A-Za-z0-9@._-]*)
    echo "invalid unit name" >&2
    echo 'RESULT action=rejected reason=invalid-unit-name'
    exit 2
    ;;
esac
# A service only: the unit may come from an incident's fields, and restarting reboot.target, poweroff.target,
# a .mount or a .slice would reboot the host, unmount a file system or stop everything under the slice.
# A name without a suffix is a service to systemctl; any other suffix is refused.
case "$unit" in
  *.service) ;;
  *.*)
    echo "not a service unit: $unit" >&2
    echo 'RESULT action=rejected reason=not-a-service'
    exit 2
    ;;
esac

if [ "$dry_run" -eq 1 ]; then
  echo "RESULT unit=$unit action=would-restart"
  exit 0
fi

rc=0
systemctl restart -- "$unit" || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "RESULT unit=$unit action=restarted"
  exit 0
fi
echo "RESULT unit=$unit action=failed exit=$rc"
exit 1
