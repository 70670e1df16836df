#!/bin/sh
# Usage: disk-cleanup.sh [--dry-run] [--apply] [--days N] [--path DIR]... [--]
# Lists (default, dry run) or deletes (--apply) regular files older than N days (default 7) under each
# DIR (default /var/tmp), staying on the same filesystem. Prints a RESULT summary line. --dry-run wins
# over --apply wherever each stands: a dry-run job puts it first, before arguments that may say --apply.
#
# Each DIR, with every symlink and "." or ".." resolved, must be one of the cleanable roots or inside one:
# /var/tmp /tmp /var/log /var/cache /var/crash /var/lib/systemd/coredump, or, when the file
# disk-cleanup.roots exists next to this script (the allow-listed scripts directory, which only the
# operator writes), the absolute directories it lists, one a line. Whoever writes a rule or job chooses
# the arguments, and an incident value may be templated into them: they must not be able to delete the
# files of /usr, /etc or / itself (`--path //` once passed the check for "/") on every host, as root.
# Anything else is a usage error (exit 2) before any file is looked at.
set -eu
# No pathname expansion: the loops below split the list of directories on newlines only.
set -f
LC_ALL=C
export LC_ALL

apply=0
dry_run=0
days=7
paths=''
while [ "$#" -gt 0 ]; do
  case "$1" in
    --apply) apply=1 ;;
    --dry-run) dry_run=1 ;;
    --days)
      [ "$#" -ge 2 ] || { echo '--days needs a value' >&2; exit 2; }
      days=$2; shift ;;
    --path)
      [ "$#" -ge 2 ] || { echo '--path needs a value' >&2; exit 2; }
      case "$2" in
        /*) ;;
        *) echo '--path must be absolute' >&2; exit 2 ;;
      esac
      case "$2" in *'
'*) echo 'invalid path' >&2; exit 2 ;; esac
      paths="$paths
$2"; shift ;;
    # `--` ends the options (the README advises it before templated values); this script takes no operand.
    --) shift; [ "$#" -eq 0 ] || { echo "unexpected operand: $1" >&2; exit 2; }; break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$dry_run" -eq 0 ] || apply=0
case "$days" in ''|*[!0-9]*) echo '--days must be a non-negative integer' >&2; exit 2 ;; esac
[ -n "$paths" ] || paths='
/var/tmp'

# The directory as it really is: symlinks, "." and ".." resolved (empty when it does not exist).
real_dir() {
  (cd -P -- "$1" 2>/dev/null && pwd -P) || true
}
script_dir=$(cd -- "$(dirname -- "$0")" && pwd -P)
if [ -f "$script_dir/disk-cleanup.roots" ]; then
  roots=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$script_dir/disk-cleanup.roots" || true)
else
  roots='/var/tmp
/tmp
/var/log
/var/cache
/var/crash
/var/lib/systemd/coredump'
fi

# Whether the resolved directory $1 is one of the cleanable roots or inside one ("/" never is).
inside_roots() {
  [ "$1" != / ] || return 1
  for root in $roots; do
    case "$root" in /*) ;; *) continue ;; esac
    root_real=$(real_dir "$root")
    [ -n "$root_real" ] && [ "$root_real" != / ] || continue
    case "$1/" in "$root_real"/*) return 0 ;; esac
  done
  return 1
}

# Every DIR is resolved and checked before anything is listed or deleted; the resolved path is what is cleaned.
old_ifs=$IFS
IFS='
'
checked=''
for dir in $paths; do
  [ -n "$dir" ] || continue
  real=$(real_dir "$dir")
  if [ -z "$real" ]; then
    echo "skipping missing directory $dir" >&2
    continue
  fi
  if ! inside_roots "$real"; then
    echo "refusing to clean $dir: not inside a cleanable root (see disk-cleanup.roots)" >&2
    echo 'RESULT mode=refused reason=path-not-allowed'
    exit 2
  fi
  checked="$checked
$real"
done
IFS=$old_ifs
paths=$checked

files=0
bytes=0
old_ifs=$IFS
IFS='
'
for dir in $paths; do
  [ -n "$dir" ] || continue
  # Cleaned from inside: the directory is entered once and every walk starts at "." (the directory entered,
  # whatever its path names later). Walked by its path, a directory above it that a user of the VM owns
  # (/tmp/evil of /tmp/evil/etc) could be swapped for a symlink to / between the check and the walks, and
  # root deleted the real /etc. Where it was entered is checked again, as the kernel names it now.
  if ! cd -P -- "$dir" 2>/dev/null; then
    echo "skipping directory $dir: it is gone" >&2
    continue
  fi
  here=$(pwd -P)
  if ! inside_roots "$here"; then
    echo "refusing to clean $dir: it is now $here, not inside a cleanable root" >&2
    echo 'RESULT mode=refused reason=path-not-allowed'
    exit 2
  fi
  n=$(find . -xdev -type f -mtime +"$days" -print | wc -l)
  b=$(find . -xdev -type f -mtime +"$days" -exec stat -c %s {} + | awk '{s+=$1} END {print s+0}')
  files=$((files + n))
  bytes=$((bytes + b))
  if [ "$apply" -eq 1 ]; then
    # -delete removes each file relative to its directory as find holds it open (unlinkat), never by a
    # path looked up again: with `-exec rm -f {} +`, a user of the VM who owns a directory under the root
    # could swap it for a symlink between the listing and the rm, and root deleted through it (/etc/shadow).
    find . -xdev -type f -mtime +"$days" -delete
  else
    find . -xdev -type f -mtime +"$days" -print | while IFS= read -r f; do printf 'would delete: %s/%s\n' "$here" "${f#./}"; done
  fi
  cd /
done
IFS=$old_ifs

if [ "$apply" -eq 1 ]; then mode=apply; else mode=dry-run; fi
echo "RESULT mode=$mode days=$days files=$files bytes=$bytes"
exit 0
