#!/bin/sh
# Usage: disk-cleanup.sh [--apply] [--days N] [--path DIR]...
# Lists (default, dry run) or deletes (--apply) regular files older than N days (default 7) under each
# DIR (default /var/tmp), staying on the same filesystem. Prints a RESULT summary line.
set -eu
LC_ALL=C
export LC_ALL

apply=0
days=7
paths=''
while [ "$#" -gt 0 ]; do
  case "$1" in
    --apply) apply=1 ;;
    --dry-run) apply=0 ;;
    --days)
      [ "$#" -ge 2 ] || { echo '--days needs a value' >&2; exit 2; }
      days=$2; shift ;;
    --path)
      [ "$#" -ge 2 ] || { echo '--path needs a value' >&2; exit 2; }
      case "$2" in
        /) echo 'refusing to clean /' >&2; exit 2 ;;
        /*) ;;
        *) echo '--path must be absolute' >&2; exit 2 ;;
      esac
      case "$2" in *'
'*) echo 'invalid path' >&2; exit 2 ;; esac
      paths="$paths
$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$days" in ''|*[!0-9]*) echo '--days must be a non-negative integer' >&2; exit 2 ;; esac
[ -n "$paths" ] || paths='
/var/tmp'

files=0
bytes=0
old_ifs=$IFS
IFS='
'
for dir in $paths; do
  [ -n "$dir" ] || continue
  [ -d "$dir" ] || { echo "skipping missing directory $dir" >&2; continue; }
  n=$(find "$dir" -xdev -type f -mtime +"$days" -print | wc -l)
  b=$(find "$dir" -xdev -type f -mtime +"$days" -exec stat -c %s {} + | awk '{s+=$1} END {print s+0}')
  files=$((files + n))
  bytes=$((bytes + b))
  if [ "$apply" -eq 1 ]; then
    find "$dir" -xdev -type f -mtime +"$days" -exec rm -f {} +
  else
    find "$dir" -xdev -type f -mtime +"$days" -print | sed 's/^/would delete: /'
  fi
done
IFS=$old_ifs

if [ "$apply" -eq 1 ]; then mode=apply; else mode=dry-run; fi
echo "RESULT mode=$mode days=$days files=$files bytes=$bytes"
exit 0
