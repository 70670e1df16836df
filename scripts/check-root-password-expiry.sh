#!/bin/sh
# Usage: check-root-password-expiry.sh [--days N] [--dry-run] [--user NAME] [--vault-cmd NAME] [--]
#
# Reads the password expiry of NAME (default root) with `chage -l`. When it expires within N days
# (default 14), sets a new random password with `chpasswd` — but only after the vault command has
# stored it: it is run as `<vault command> <user>` with the password on stdin and must exit 0.
# Without --vault-cmd the password is never changed. --dry-run changes nothing and runs no vault command.
# The password is never printed.
#
# Whoever writes a rule or job chooses the arguments, and must not be able to make this script run any
# program as root, or set a password nobody holds. So the operator decides, in files next to this script
# (the allow-listed scripts directory, which only the operator writes):
# - --vault-cmd NAME must be a line of check-root-password-expiry.vaults, and a program of that name in the
#   vault directory, /etc/selfheal/vault (or the absolute directory on the first line of
#   check-root-password-expiry.vault-dir): a wrapper or symlink to the vault client, e.g.
#   `store-root-password`. Any other name, such as a sibling script that exits 0 without storing anything,
#   is refused (exit 2) and nothing is reset.
# - The vault directory is not the scripts directory, nor inside it: there, the vault command would itself
#   be a script whoever writes a rule or job may run, with arguments of their choosing
#   (`store-root-password root` with empty input stores an empty root password). A vault command found in,
#   or leading into, the scripts directory is not used (exit 1, reason vault-cmd-in-scripts-dir).
# - --user NAME other than root must be a line of check-root-password-expiry.users.
# - --days is at most 90.
# - The vault command (links followed), each directory above it (a root-owned sticky one such as /tmp
#   aside), both lists and the vault-dir file must be files only root (or the user this runs as) can change:
#   owned by it, not group- or world-writable. The agent checks this script, not what it then runs or reads;
#   otherwise nothing is reset (the vault command: exit 1, reason vault-cmd-untrusted; a file: exit 2).
# chage and chpasswd are taken from PATH, which only the agent's own environment sets (a rule cannot).
#
# Last line: RESULT user=<u> expires_in_days=<n|never> action=<none|would-reset|reset|error> [reason=...]
# Exit: 0 ok (including nothing to do), 1 reset failed, 2 usage error.
set -eu
LC_ALL=C
export LC_ALL

days=14
dry_run=0
user=root
vault_cmd=''
while [ "$#" -gt 0 ]; do
  case "$1" in
    --days) [ "$#" -ge 2 ] || { echo '--days needs a value' >&2; exit 2; }; days=$2; shift ;;
    --dry-run) dry_run=1 ;;
    --user) [ "$#" -ge 2 ] || { echo '--user needs a value' >&2; exit 2; }; user=$2; shift ;;
    --vault-cmd) [ "$#" -ge 2 ] || { echo '--vault-cmd needs a value' >&2; exit 2; }; vault_cmd=$2; shift ;;
    # `--` ends the options (the README advises it before templated values); this script takes no operand.
    --) shift; [ "$#" -eq 0 ] || { echo "unexpected operand: $1" >&2; exit 2; }; break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$days" in ''|*[!0-9]*) echo '--days must be a non-negative integer' >&2; exit 2 ;; esac
# Compared as text first: a huge number would overflow the shell's arithmetic.
if [ "${#days}" -gt 2 ] || [ "$days" -gt 90 ]; then echo '--days is at most 90' >&2; exit 2; fi
case "$user" in ''|-*|*[!a-z0-9_.-]*) echo 'invalid user name' >&2; exit 2 ;; esac
# A name relative to this script's directory: no absolute path, no "." or ".." segment, plain characters.
case "$vault_cmd" in
  '') ;;
  /*|-*|*[!A-Za-z0-9_./-]*|.|..|./*|../*|*/.|*/..|*/./*|*/../*|*//*|*/)
    echo '--vault-cmd must name a program inside the scripts directory (e.g. store-root-password)' >&2; exit 2 ;;
esac
script_dir=$(cd -- "$(dirname -- "$0")" && pwd -P)
# Whether only root (or this user) can change file $1, links followed: the agent checks the script it runs,
# not the files the script then uses, and the vault command runs as root and the lists say who may.
trusted() {
  set -- "$(stat -L -c '%u %a' -- "$1" 2>/dev/null)"
  [ -n "$1" ] || return 1
  case "${1%% *}" in 0|"$(id -u)") ;; *) return 1 ;; esac
  [ $(( 0${1#* } & 022 )) -eq 0 ]
}
# Whether $2 is a whole line of the operator's list $1 (a file next to this script; none lists nothing).
# A list someone else could change lists nothing: refused, saying so.
listed() {
  [ -f "$script_dir/$1" ] || return 1
  if ! trusted "$script_dir/$1"; then
    echo "$1 could be changed by someone other than root (its owner or mode): run chown root and chmod go-w on it" >&2
    exit 2
  fi
  grep -qxF -- "$2" "$script_dir/$1"
}
# The vault directory: root's, outside the scripts directory (checked where the command is run).
vault_dir=/etc/selfheal/vault
if [ -n "$vault_cmd" ] && [ -f "$script_dir/check-root-password-expiry.vault-dir" ]; then
  if ! trusted "$script_dir/check-root-password-expiry.vault-dir"; then
    echo "check-root-password-expiry.vault-dir could be changed by someone other than root (its owner or mode): run chown root and chmod go-w on it" >&2
    exit 2
  fi
  vault_dir=$(sed -n '1p' "$script_dir/check-root-password-expiry.vault-dir")
  case "$vault_dir" in
    /*) ;;
    *) echo 'check-root-password-expiry.vault-dir must hold an absolute directory on its first line' >&2; exit 2 ;;
  esac
fi
if [ -n "$vault_cmd" ] && ! listed check-root-password-expiry.vaults "$vault_cmd"; then
  echo "--vault-cmd $vault_cmd is not listed in check-root-password-expiry.vaults next to this script: not a vault the operator named" >&2
  exit 2
fi
if [ "$user" != root ] && ! listed check-root-password-expiry.users "$user"; then
  echo "--user $user is not root and not listed in check-root-password-expiry.users next to this script" >&2
  exit 2
fi

result() {
  echo "RESULT user=$user expires_in_days=$1 action=$2${3:+ reason=$3}"
}

if ! info=$(chage -l "$user" 2>&1); then
  echo "chage -l failed: $info" >&2
  result unknown error chage-failed
  exit 1
fi
expires=$(printf '%s\n' "$info" | sed -n 's/^Password expires[[:space:]]*:[[:space:]]*//p' | head -n 1)
if [ -z "$expires" ]; then
  result unknown error unparsable-chage-output
  exit 1
fi
if [ "$expires" = "never" ]; then
  result never none
  exit 0
fi
if ! exp_epoch=$(date -u -d "$expires" +%s 2>/dev/null); then
  result unknown error unparsable-date
  exit 1
fi
# chage prints whole dates: count calendar days from today (UTC midnight); negative when already past.
today_epoch=$(date -u -d "$(date -u +%Y-%m-%d)" +%s)
remaining=$(( (exp_epoch - today_epoch) / 86400 ))

if [ "$remaining" -gt "$days" ]; then
  result "$remaining" none
  exit 0
fi
if [ "$dry_run" -eq 1 ]; then
  result "$remaining" would-reset
  exit 0
fi
if [ -z "$vault_cmd" ]; then
  echo 'password expires soon but no --vault-cmd given: not resetting' >&2
  result "$remaining" error no-vault-cmd
  exit 1
fi
# The program itself, links followed: it is what runs, and what is checked.
vault_path=$(realpath -e -- "$vault_dir/$vault_cmd" 2>/dev/null || readlink -f -- "$vault_dir/$vault_cmd" 2>/dev/null) || vault_path=''
# One left in the scripts directory (where this script once looked) stays runnable as a script: refused
# until it is gone, so that moving it is not half done.
in_scripts_dir=0
if [ -e "$script_dir/$vault_cmd" ] || [ -L "$script_dir/$vault_cmd" ]; then in_scripts_dir=1; fi
case "$vault_path" in "$script_dir" | "$script_dir"/*) in_scripts_dir=1 ;; esac
if [ "$in_scripts_dir" -eq 1 ]; then
  echo "$vault_cmd is in the scripts directory (or leads there), where anyone who may write a rule or job could run it with arguments of their choosing: keep it in $vault_dir only" >&2
  result "$remaining" error vault-cmd-in-scripts-dir
  exit 1
fi
if [ -z "$vault_path" ] || [ ! -f "$vault_path" ] || [ ! -x "$vault_path" ]; then
  echo "$vault_cmd is not an executable file in the vault directory $vault_dir" >&2
  result "$remaining" error vault-cmd-not-executable
  exit 1
fi
# It runs as root and is handed the new password: nobody but root may be able to change it, nor move
# another program in its place (each directory above it: only root's sticky ones may be shared, like /tmp).
trusted_path() {
  trusted "$1" || return 1
  set -- "$1"
  while [ "$1" != / ]; do
    set -- "$(dirname -- "$1")"
    trusted "$1" || sticky_root "$1" || return 1
  done
}
sticky_root() {
  set -- "$(stat -c '%u %a' -- "$1" 2>/dev/null)"
  [ "${1%% *}" = 0 ] && [ $(( 0${1#* } & 01000 )) -ne 0 ]
}
if ! trusted_path "$vault_path"; then
  echo "$vault_cmd could be changed by someone other than root (its owner or mode, or those of a directory above it): run chown root and chmod go-w on them" >&2
  result "$remaining" error vault-cmd-untrusted
  exit 1
fi

password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
if [ "${#password}" -lt 40 ]; then
  result "$remaining" error random-failed
  exit 1
fi
if ! printf '%s\n' "$password" | "$vault_path" "$user" >/dev/null; then
  result "$remaining" error vault-store-failed
  exit 1
fi
if ! printf '%s:%s\n' "$user" "$password" | chpasswd; then
  result "$remaining" error chpasswd-failed
  exit 1
fi
result "$remaining" reset
exit 0
