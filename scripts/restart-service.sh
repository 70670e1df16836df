#!/bin/sh
# Usage: restart-service.sh [--dry-run] [--] <unit>
# Restarts a systemd service after validating its name (a service, never a target, mount or slice, nor a
# service that powers off, reboots, suspends or rescues the host).
# --dry-run only validates.
set -eu
LC_ALL=C
export LC_ALL

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
# `--` ends the options, as the README advises before a templated value: the unit follows.
if [ "${1:-}" = "--" ]; then
  shift
fi
if [ "$#" -ne 1 ]; then
  echo 'usage: restart-service.sh [--dry-run] [--] <unit>' >&2
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

# Nor a service that is the system's own change of state (systemd.special(7)): starting one powers off,
# reboots, halts or kexecs the host (systemd-poweroff.service carries SuccessAction=poweroff-force),
# suspends or hibernates it, switches its root, drops it to the rescue or emergency shell, or opens a root
# shell on a console (debug-shell). Refused by name here, and below by what systemd resolves the name to.
refused_service() {
  case "${1%.service}" in
    systemd-poweroff|systemd-reboot|systemd-halt|systemd-kexec|systemd-soft-reboot|systemd-exit) return 0 ;;
    systemd-suspend|systemd-hibernate|systemd-hybrid-sleep|systemd-suspend-then-hibernate|systemd-sleep) return 0 ;;
    poweroff|reboot|halt|kexec|soft-reboot|exit|suspend|hibernate|hybrid-sleep|suspend-then-hibernate|sleep) return 0 ;;
    emergency|rescue|debug-shell|initrd-*|systemd-initctl|systemd-halt@*|systemd-reboot@*|systemd-poweroff@*) return 0 ;;
  esac
  return 1
}
if refused_service "$unit"; then
  echo "refusing to start $unit: it changes the system's state (power, sleep, rescue or a root shell)" >&2
  echo 'RESULT action=rejected reason=system-state-unit'
  exit 2
fi

if [ "$dry_run" -eq 1 ]; then
  echo "RESULT unit=$unit action=would-restart"
  exit 0
fi

# What systemd would start: an alias is resolved to its unit, and a unit whose success or failure acts on
# the whole system (SuccessAction=, FailureAction=: reboot, poweroff, exit) is refused whatever its name.
props=$(systemctl show -p Id -p SuccessAction -p FailureAction -- "$unit" 2>/dev/null) || props=
id=$(printf '%s\n' "$props" | sed -n 's/^Id=//p')
on_success=$(printf '%s\n' "$props" | sed -n 's/^SuccessAction=//p')
on_failure=$(printf '%s\n' "$props" | sed -n 's/^FailureAction=//p')
if { [ -n "$id" ] && refused_service "$id"; } || [ "${on_success:-none}" != none ] || [ "${on_failure:-none}" != none ]; then
  echo "refusing to restart $unit (systemd: Id=${id:-?} SuccessAction=${on_success:-none} FailureAction=${on_failure:-none}): it changes the system's state" >&2
  echo 'RESULT action=rejected reason=system-state-unit'
  exit 2
fi

rc=0
systemctl restart -- "$unit" || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "RESULT unit=$unit action=restarted"
  exit 0
fi
echo "RESULT unit=$unit action=failed exit=$rc"
exit 1
