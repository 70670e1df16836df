import assert from 'node:assert/strict';
import { carriesTemplates, commandDataProblem, shellDataFindings, unquotedParameters } from '../../src/domain/shell-words.js';

/** One test per row: the command's findings of `kind` are `want`, and a command with any is refused. */
function findingRows(rows: readonly (readonly [string, string, readonly string[]])[]): void {
  for (const [command, kind, want] of rows) {
    it(`${JSON.stringify(command)} → ${kind} ${JSON.stringify(want)}`, function () {
      assert.deepEqual(
        shellDataFindings(command)
          .filter((f) => f.kind === kind)
          .map((f) => f.text),
        want,
      );
      if (want.length > 0) assert.ok(commandDataProblem(command), 'refused');
    });
  }
}

/** One test per command: nothing found. */
function acceptedRows(commands: readonly string[]): void {
  for (const command of commands) {
    it(`${JSON.stringify(command)} → accepted`, function () {
      assert.deepEqual(shellDataFindings(command), []);
    });
  }
}

// What `sh -c` does with a rule command's templated args and environment (incident data):
// test/security/authority.test.ts shows what an unquoted $1 did with a title on the real sshd; these are the
// spellings the check reads. Each refused case names what it found; each accepted one finds nothing.
describe('shell-words: what a shell command does with incident data', function () {
  describe('unquoted expansions (split and globbed)', function () {
    const cases: [string, string[]][] = [
      ['systemctl restart $1', ['$1']],
      ['systemctl restart "$1"', []],
      ["echo '$1'", []],
      ['echo \\$1', []],
      ['echo "a\\"$1"', []],
      ['echo "$@" "$*"', []],
      ['echo $@ $*', ['$@', '$*']],
      ['x ${1:-a} ${12}', ['${1:-a}', '${12}']],
      ['x "${1:-a}"', []],
      ['echo "$(cat $1)"', ['$1']],
      ['echo "$(cat "$1")"', []],
      ['echo `ls $2`', ['$2', '`ls $2`']],
      ['echo "`ls $2`"', ['$2']],
      ['id # not $1', []],
      ['echo a#$1', ['$1']],
      ['echo $0 $# $? $$ $! $- ${#} ${?}', []],
      // An assignment word neither splits nor globs (POSIX); a later unquoted $x (the copy) still does.
      ['a=$1', []],
      ['pid=$(pgrep -f "$1")', []],
      ['h=${1%%.*}; restart "$h"', []],
      ['n=$(ls /var/log | wc -l)', []],
      ['x=$1 y=${2:-a} restart "$x"', []],
      ['if x=$1; then restart "$x"; fi', []],
      ['x=$1; restart $x', ['$x']],
      ['x=$(cat $1)', ['$1']],
      ['x=($1)', ['$1']],
      ['a[0]=$1', ['$1']],
      ['echo x=$1', ['$1']],
      ['x=1 echo y=$1', ['$1']],
      ["'x'=$1", ['$1']],
      // After a declaration builtin older dash splits the word (local x=$1 with $1 = "y PATH=/tmp/e" sets PATH).
      ['local x=$1', ['$1']],
      ['export x=$1', ['$1']],
      ['declare x=$1; readonly y=$1; typeset z=$2', ['$1', '$2']],
      ['command export x=$1', ['$1']],
      // [[ … ]] (bash) neither splits nor globs its operands; outside it the same $1 does.
      ['[[ -z $1 ]] && exit 2', []],
      ['[[ $1 == web-* ]] && restart "$1"', []],
      ['if [[ $(systemctl is-active "$1") != active ]]; then restart "$1"; fi', []],
      ['[[ -z $1 ]] && restart $1', ['$1']],
      ["'[[' -z $1 ]]", ['$1']],
      // Not provably free of data: still refused.
      ['exit $rc', ['$rc']],
      ['kill -HUP $(cat /run/nginx.pid)', ['$(cat /run/nginx.pid)']],
      ['for i in $(seq 1 3); do restart "$1"; done', ['$(seq 1 3)']],
      // In an sh -c string with operands, $0 is the first operand.
      ["sh -c 'restart $0' \"$1\"", ['$0']],
      ["sh -c 'restart \"$0\"' \"$1\"", []],
      ["sh -c 'echo $0 ${0}'", []],
      ["sh -c 'restart \"$1\" $0' \"$1\" \"$2\"", ['$0']],
      ['id > /tmp/x', []],
      ['restart $SELFHEAL_PARAM_HOST ${SELFHEAL_PARAM_X:-y}', ['$SELFHEAL_PARAM_HOST', '${SELFHEAL_PARAM_X:-y}']],
      // Breadth: any variable may hold a copy of the data, and ${…} in every form.
      ['restart "$SELFHEAL_PARAM_HOST" $HOME', ['$HOME']],
      ['a=$1; rm $a', ['$a']],
      ['a="$1"; rm $a', ['$a']],
      ['a="$1"; rm "$a"', []],
      ['for h in "$@"; do restart $h; done', ['$h']],
      ['echo ${!x} ${x[@]} ${#x}', ['${!x}', '${x[@]}', '${#x}']],
      ['echo "${x[@]}" "${#x}"', []],
      ['echo ${x:-"$1"}', ['${x:-"$1"}']],
      ['echo ${x:-$1}', ['$1', '${x:-$1}']],
      ['echo $(echo) $3', ['$(echo)', '$3']],
      ['restart $(echo "$1" | tr A-Z a-z)', ['$(echo "$1" | tr A-Z a-z)']],
      ['restart "$(echo "$1" | tr A-Z a-z)"', []],
      ['echo $10', ['$1']],
      ['echo $', []],
      ['echo "$"', []],
      ["echo $'a b $1'", []],
      ['echo \\\\$1', ['$1']],
      ['cat < $1', ['$1']],
      ['cat <<< $1', ['$1']],
      // Parser gaps that used to desynchronise the quote tracking:
      // an apostrophe in a here-document body is a plain character…
      ["cat <<EOF\nit's $1\nEOF\nrestart $1", ['$1']],
      ["cat <<EOF\nit's \"$1\"\nEOF\nrestart \"$1\"", []],
      ["cat <<-EOF\n\tit's $1\n\tEOF\nrestart $2", ['$2']],
      ["cat <<'EOF'\n$1 `id` $(x\nEOF\nrestart \"$1\"", []],
      ['cat <<"EOF"\nit\'s $1\nEOF\necho ok', []],
      ['cat <<E\\OF\n$1\nEOF', []],
      ["cat <<A <<B\n$1 '\nA\n$2 '\nB\nrestart $3", ['$3']],
      ["x=\"$(cat <<EOF\nit's $1\nEOF\n)\"\nrestart \"$x\" $2", ['$2']],
      // …a # right after a backtick or a $( is no comment…
      ['echo `id`#$1', ['`id`', '$1']],
      ['echo "$(id)"#$1', ['$1']],
      ['echo $(echo a#b) $1', ['$(echo a#b)', '$1']],
      // …and a comment inside $(…) or backticks hides its apostrophe, not the rest.
      ["echo \"$(id # it's\n)\" $1", ['$1']],
      ["echo \"$(id # it's\n)\" \"$1\"", []],
      ["echo \"`id # it's`\" $1", ['$1']],
      // Nested substitutions with quotes inside.
      ['echo "$(printf "%s" "$(echo "$1")")"', []],
      ['echo "$(printf "%s" "$(echo $1)")"', ['$1']],
      ["echo \"$(echo ')' \"$1\")\" $2", ['$2']],
      ['echo "$(case "$1" in a) echo x;; esac)" $2', ['$2']],
      ['case "$1" in a|b) restart "$1";; *) exit 2;; esac', []],
      ['if true; then case "$1" in (a) x;; esac; fi', []],
      ['echo "`echo \\"$1\\"`"', []],
      // Inside the substitution, the inner one is unquoted.
      ['echo "`echo \\`id\\` $1`"', ['`id`', '$1']],
    ];
    for (const [command, want] of cases) {
      it(`${JSON.stringify(command)} → ${JSON.stringify(want)}`, function () {
        assert.deepEqual(unquotedParameters(command), want);
        if (want.length === 0) assert.deepEqual(shellDataFindings(command), []);
      });
    }
  });

  describe('arithmetic, data handed to another parser, and what the check cannot read', function () {
    const cases: [string, string, string[]][] = [
      // Inside arithmetic bash evaluates a value as an expression (a[$(id)] runs id), quoted or not.
      ['echo $(($1 + 1))', 'arithmetic', ['$1']],
      ['echo "$(( $SELFHEAL_PARAM_N * 2 ))"', 'arithmetic', ['$SELFHEAL_PARAM_N']],
      ['echo $((n + 1))', 'arithmetic', ['n']],
      ['echo $((1 + 2)) $(( $# > 0 )) $((0x1F + 10#3))', 'arithmetic', []],
      ['(( "$1" > 3 ))', 'unreadable', ['a quote inside "((…))"']],
      ['((x = $1))', 'arithmetic', ['x', '$1']],
      ['let "x=$1"', 'arithmetic', ['let "x=$1"']],
      ['[[ "$1" -eq 3 ]]', 'arithmetic', ['[[ "$1" -eq']],
      ['[[ $1 -eq 3 ]]', 'arithmetic', ['[[ $1 -eq']],
      ['[[ -v $1 ]]', 'arithmetic', ['-v $1']],
      ['[[ ${!1} == x ]]', 'arithmetic', ['${!1}']],
      ['x=$1; [[ ${a[$x]} == y ]]', 'arithmetic', ['$x']],
      // The shell's own numbers and a length are numbers: arithmetic on them passes…
      ['sleep $((RANDOM % 10)); restart "$1"', 'arithmetic', []],
      ['echo "$((${#1}+1))" "$(( ${#SELFHEAL_PARAM_X} > 3 ))"', 'arithmetic', []],
      ['echo $((SECONDS/60)) $((LINENO)) $((PPID)) $((BASHPID)) $((UID)) $((EUID)) $(($RANDOM % 2))', 'arithmetic', []],
      ['((RANDOM % 2)) && restart "$1"', 'arithmetic', []],
      // …unless the command names the variable elsewhere (it may fill it) or unsets one (it loses its meaning).
      ['RANDOM="$1"; sleep $((RANDOM % 10))', 'arithmetic', ['RANDOM="$1"', 'RANDOM']],
      // Bash's own integer variables evaluate what is assigned to them (tried: RANDOM="a[\$(id)]" runs id).
      ['RANDOM="$1"', 'arithmetic', ['RANDOM="$1"']],
      ['OPTIND=$1 SRANDOM="$2"; export HISTCMD="$1"', 'arithmetic', ['OPTIND=$1', 'SRANDOM="$2"', 'HISTCMD="$1"']],
      ['RANDOM=42; LINENO="$1"; sleep $((SECONDS))', 'arithmetic', []],
      ["eval $'unset \\x52ANDOM'; sleep $((RANDOM % 10))", 'arithmetic', ['RANDOM']],
      ["e=$'\\x52ANDOM=\"$1\"; : $((\\x52ANDOM))'; eval \"$e\"", 'reparse', ['eval "$e"']],
      ["eval $'\\x52ANDOM=x; : $((\\x52ANDOM))'; eval $'\\x52ANDOM=x; : $((\\x52ANDOM))'", 'arithmetic', ['RANDOM']],
      ["sh -c 'sleep $((RANDOM % 10))'", 'arithmetic', ['RANDOM']],
      ['echo `echo $((RANDOM))`', 'arithmetic', ['RANDOM']],
      ['echo "$(echo $((RANDOM)))"; x=$(( RANDOM + 1 ))', 'arithmetic', []],
      ['let "x = RANDOM % 2"; echo "$[RANDOM]" "${a[RANDOM]}"', 'arithmetic', ['x']],
      ['unset x; sleep $((SECONDS))', 'arithmetic', ['SECONDS']],
      ['echo $((RANDOMX)) $((${#1}+$1)) $((${#a[$1]}))', 'arithmetic', ['RANDOMX', '$1', '${#a[$1]}']],
      ['local -i n; n=$1', 'arithmetic', ['n=$1']],
      ['PATH=$PATH:$1 restart', 'reparse', ['PATH=$PATH:$1']],
      ['x=$1 PS4=$1 restart', 'reparse', ['PS4=$1']],
      ['a[$1]=x', 'arithmetic', ['a[$1]=x']],
      // function and coproc bodies are commands, like f() { …; }.
      ['function f { eval "$1"; }; f "$1"', 'reparse', ['eval "$1"']],
      ['function f() { eval "$1"; }', 'reparse', ['eval "$1"']],
      ['function f\n{\n  sh -c "$1"\n}', 'reparse', ['sh -c "$1"']],
      ['function f { restart "$1"; }; f "$1"', 'reparse', []],
      ['coproc eval "$1"', 'reparse', ['eval "$1"']],
      ['coproc w { eval "$1"; }', 'reparse', ['eval "$1"']],
      ['coproc tail -f /var/log/syslog; restart "$1"', 'reparse', []],
      // $0 in an sh -c string is its first operand: data when the operands carry data.
      ["bash -c 'eval \"$0\"' \"$1\"", 'reparse', ['eval "$0"']],
      ["bash -c 'echo \"$(eval \"$0\")\"' \"$1\"", 'reparse', ['eval "$0"']],
      ["bash -c 'eval \"$0\"' _ \"$1\"", 'reparse', []],
      ["bash -c 'eval \"$0\"' -- \"$1\"", 'reparse', ['eval "$0"']],
      ["bash -c 'eval \"$0\"'", 'reparse', []],
      ["bash -c 'restart \"$1\"' _ \"$1\"", 'reparse', []],
      ['echo $(($0))', 'arithmetic', []],
      ["bash -c 'echo $(($0))' \"$1\"", 'arithmetic', ['$0']],
      // A destination from data may start with -: ssh -oProxyCommand=… runs a command.
      ['ssh "$h" uptime', 'reparse', ['ssh "$h" uptime']],
      ['[[ "$1" == web-* ]] && restart "$1"', 'arithmetic', []],
      ['[ "$1" -eq 3 ]', 'arithmetic', []],
      ['echo "${a[$1]}"', 'arithmetic', ['$1']],
      ['echo "${x:$1:2}"', 'arithmetic', ['$1']],
      ['echo "${!1}"', 'arithmetic', ['${!1}']],
      ['declare -i n="$1"', 'arithmetic', ['declare -i n="$1"']],
      // Re-parsed as shell (or another language): quoted or not, the data is code.
      ['eval "restart $1"', 'reparse', ['eval "restart $1"']],
      ["eval 'restart \"$1\"'", 'reparse', []],
      ['sh -c "restart $1"', 'reparse', ['sh -c "restart $1"']],
      ['bash -ec "restart \\"$1\\""', 'reparse', ['bash -ec "restart \\"$1\\""']],
      ['sudo -u app /bin/bash -c "restart \'$1\'"', 'reparse', ['bash -c "restart \'$1\'"']],
      ["sh -c 'restart \"$1\"' _ \"$1\"", 'reparse', []],
      ['su app -c "restart $SELFHEAL_PARAM_HOST"', 'reparse', ['su -c "restart $SELFHEAL_PARAM_HOST"']],
      ['find /var/log -name "$1" -exec sh -c "gzip $1" \\;', 'reparse', ['sh -c "gzip $1"']],
      ['ssh web-01 "systemctl restart $1"', 'reparse', ['ssh web-01 "systemctl restart $1"']],
      ['timeout 5 ssh -p 22 web-01 systemctl restart "\\"$1\\""', 'reparse', ['ssh -p 22 web-01 systemctl restart "\\"$1\\""']],
      ['echo "$1" | sh', 'reparse', ['data on the stdin of sh']],
      ['printf "%s\\n" "$1" | bash -s', 'reparse', ['data on the stdin of bash']],
      ['echo "$1" | sh ./fix.sh', 'reparse', []],
      ['sh <<EOF\nrestart "$1"\nEOF', 'reparse', ['data on the stdin of sh']],
      ["sh <<'EOF'\nrestart \"$1\"\nEOF", 'reparse', []],
      ['cat <<EOF | ssh web-01\nrestart "$1"\nEOF', 'reparse', ['data on the stdin of ssh without a command']],
      ['sh "$1"', 'reparse', ['sh "$1"']],
      ['bash <(echo "$1")', 'reparse', ['bash <(echo "$1")']],
      ['. "$SELFHEAL_PARAM_FILE"', 'reparse', ['. "$SELFHEAL_PARAM_FILE"']],
      ['python3 -c "print(\'$1\')"', 'reparse', ['python3 -c "print(\'$1\')"']],
      ['python3 fix.py "$1"', 'reparse', []],
      ['perl -ne "print if /$1/" f', 'reparse', ['perl -ne "print if /$1/"']],
      ['awk "/$1/ {print}" f', 'reparse', ['awk "/$1/ {print}"']],
      ["awk -v h=\"$1\" '$1 == h' f", 'reparse', []],
      ['sed -i "s/old/$1/" f', 'reparse', ['sed "s/old/$1/"']],
      ["sed -e 's/a/b/' \"$1\"", 'reparse', []],
      ['grep -c "$1" f', 'reparse', []],
      ['ping -c 3 "$1"', 'reparse', []],
      ['watch "systemctl status $1"', 'reparse', ['watch "systemctl status $1"']],
      ['echo "$(eval "$1")"', 'reparse', ['eval "$1"']],
      ['echo "`sh -c \\"x $1\\"`"', 'reparse', ['sh -c "x $1"']],
      // Review 2: $'…' is decoded before it is read as a command (eval, sh -c)…
      ["bash -c $'eval \"\\x241\"' _ \"$1\"", 'reparse', ['eval "$1"']],
      ["eval $'\\x241'", 'unquoted', ['$1']],
      ["bash -c $'restart \"$1\"\\n' _ \"$1\"", 'reparse', []],
      ["echo $'\\x241'", 'unquoted', []],
      // …a quoted here-document read by a shell is a command text like sh -c '…'…
      ["bash <<'EOF'\neval \"$SELFHEAL_PARAM_X\"\nEOF", 'reparse', ['eval "$SELFHEAL_PARAM_X"']],
      ["sh <<'EOF'\nrm $SELFHEAL_PARAM_X\nEOF", 'unquoted', ['$SELFHEAL_PARAM_X']],
      ["cat <<'EOF'\neval \"$X\"\nEOF", 'reparse', []],
      // …the command after options of command/exec/time, and a shell -c anywhere in the words…
      ['time -p sh -c "$1"', 'reparse', ['sh -c "$1"']],
      ['command -p eval "$1"', 'reparse', ['eval "$1"']],
      ['exec -a x sh -c "$1"', 'reparse', ['sh -c "$1"']],
      ['docker exec web sh -c "systemctl restart $1"', 'reparse', ['sh -c "systemctl restart $1"']],
      ['kubectl exec p -- sh -c "$1"', 'reparse', ['sh -c "$1"']],
      ['ip netns exec n sh -c "$1"', 'reparse', ['sh -c "$1"']],
      ["docker exec web sh -c 'restart \"$1\"' _ \"$1\"", 'reparse', []],
      ['env -S "$1"', 'reparse', ['env -S "$1"']],
      ['env -i PATH=/bin restart "$1"', 'reparse', []],
      ['env -i -u HOME -S "restart $1"', 'reparse', ['env -S "restart $1"']],
      ['env --split-string="$1"', 'reparse', ['env --split-string="$1"']],
      // env's options that take a value are skipped, so the -S string behind them is still read (GNU -a/--argv0,
      // FreeBSD -P), a cluster ends at its first letter taking a value, and a long option may be cut short.
      ['env -a x -S "sh -c $1"', 'reparse', ['env -S "sh -c $1"']],
      ['env --argv0 x --split-string "restart $1"', 'reparse', ['env --split-string "restart $1"']],
      ['env -P /usr/bin -S "$1"', 'reparse', ['env -S "$1"']],
      ['env -aS -S "$1"', 'reparse', ['env -S "$1"']],
      ['env --split="$1"', 'reparse', ['env --split="$1"']],
      ['env -a x "$1"', 'reparse', ['env "$1" (a command named by data)']],
      // A literal -S string makes a command with the words after it; env expands ${NAME} in it itself.
      ["env -S 'sh -c' 'eval \"$1\"' _ \"$1\"", 'reparse', ['eval "$1"']],
      ["env -S 'sh\\_-c' 'eval \"$1\"' _ \"$1\"", 'reparse', ['eval "$1"']],
      ["env -S 'sh -c ${X}'", 'reparse', ["env -S 'sh -c ${X}' (env expands ${…} itself)"]],
      ["env -S 'sh -c #' x", 'reparse', ["env -S 'sh -c #' (env reads # and \\c itself)"]],
      ["env -S 'restart --quiet' \"$1\"", 'reparse', []],
      ['env -a restart -C /opt/fix ./restart.sh "$1"', 'reparse', []],
      // env -S splits its string on [ \t\n\v\f\r] itself: a newline or other space inside it is no command's end.
      ["env -S $'sh\\n-c' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S 'sh\n-c' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S $'sh\\r-c' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S $'sh\\f-c' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S $'sh\\v-c' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S 'bash\n-c' \"$1\"", 'reparse', ['bash -c "$1"']],
      ["env -S 'sh\t-c' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S 'sh \"-c\"' \"$1\"", 'reparse', ['sh -c "$1"']],
      ["env -S 'sh\\t-c' \"$1\"", 'reparse', []],
      ["env -S 'sh\\q' \"$1\"", 'reparse', ["env -S 'sh\\q' (env -S text the check does not read)"]],
      ["env -S 'x;sh -c' \"$1\"", 'reparse', []],
      // The value of an interpreter's option is not its script (`python3 -W ignore -c …` read `ignore` as one).
      ['python3 -W ignore -c "$1"', 'reparse', ['python3 -c "$1"']],
      ['perl -I /opt/lib -e "$1"', 'reparse', ['perl -e "$1"']],
      ['ruby -I /opt/lib -e "$1"', 'reparse', ['ruby -e "$1"']],
      ['node --import /opt/otel.mjs -e "$1"', 'reparse', ['node -e "$1"']],
      ['python3 -X "$1" /opt/fix.py', 'reparse', ['python3 -X "$1"']],
      // Each interpreter's own code options: a flag spelled like another's is no program (its next word is read on).
      ['python3 -E -c "$1"', 'reparse', ['python3 -c "$1"']],
      ['perl -c -e "$1"', 'reparse', ['perl -e "$1"']],
      ['perl -p -e "$1"', 'reparse', ['perl -e "$1"']],
      ['lua -E -e "$1"', 'reparse', ['lua -e "$1"']],
      ['perl -ne \'print if /fail/\' "$1"', 'reparse', []],
      ["php -r 'echo 1;' \"$1\"", 'reparse', []],
      ['python3 -W ignore /opt/fix/check.py -c "$1"', 'reparse', []],
      ['node --require /opt/otel.js /opt/app.js -e "$1"', 'reparse', []],
      // A wrapper's option cluster ends at its first letter taking a value, and a long option may be cut short.
      ['sudo -Eu root "$1"', 'reparse', ['sudo "$1" (a command named by data)']],
      ['timeout -vs KILL 5 "$1"', 'reparse', ['timeout "$1" (a command named by data)']],
      ['timeout --sig KILL 5 "$1"', 'reparse', ['timeout "$1" (a command named by data)']],
      ['nice --adj 5 "$1"', 'reparse', ['nice "$1" (a command named by data)']],
      ['exec -ca x "$1"', 'reparse', ['"$1" (a command named by data)']],
      ['time -f %e "$1"', 'reparse', ['"$1" (a command named by data)']],
      ['sudo -Hu app systemctl restart "$1"', 'reparse', []],
      ['timeout -s KILL 5 systemctl restart "$1"', 'reparse', []],
      ['exec -a restart /opt/fix/restart "$1"', 'reparse', []],
      // `.` ends its options at `--`.
      ['. -- /dev/stdin <<< "$1"', 'reparse', ['data on the stdin of .']],
      // …but a -S of the command env runs is that command's own option (curl -sS).
      ['env LC_ALL=C curl -sS "https://$1/health"', 'reparse', []],
      ['env curl -fsS "$1"', 'reparse', []],
      ['sudo -E env PATH=/usr/bin curl -sS "$1"', 'reparse', []],
      // …stdin named by a path…
      ['source /dev/stdin <<< "$1"', 'reparse', ['data on the stdin of source']],
      ['sh /dev/stdin <<< "$1"', 'reparse', ['data on the stdin of sh']],
      ['python3 /dev/stdin <<< "$1"', 'reparse', ['data on the stdin of python3']],
      ['echo "$1" | bash /dev/fd/0', 'reparse', ['data on the stdin of bash']],
      ['cat /dev/stdin <<< "$1"', 'reparse', []],
      ['sh ./fix.sh <<< "$1"', 'reparse', []],
      // …[[ only when unquoted, and closed before the command ends…
      ["'[[' x || printf %s \"$1\" | sh", 'reparse', ['data on the stdin of sh']],
      // An io-number belongs to its redirection, not to the words: the command after it is still seen.
      ['printf %s "$1" | sh 2>&1', 'reparse', ['data on the stdin of sh']],
      ['printf %s "$1" | bash 2>/dev/null', 'reparse', ['data on the stdin of bash']],
      ['2>/dev/null eval "$1"', 'reparse', ['eval "$1"']],
      ['{fd}>/tmp/log eval "$1"', 'reparse', ['eval "$1"']],
      ['restart "$1" 2>&1 | tee -a /var/log/fix.log', 'reparse', []],
      ['echo 2 >/tmp/two; restart "$1"', 'reparse', []],
      // An interpreter's every code option, and data joined to an option, before its script's file.
      ['perl -e"system(\\"$1\\")"', 'reparse', ['perl -e"system(\\"$1\\")"']],
      ['python3 -c"import os; os.system(\'$1\')"', 'reparse', ['python3 -c"import os; os.system(\'$1\')"']],
      ['node --eval="$1"', 'reparse', ['node --eval="$1"']],
      ['perl -e "1;" -e "$1"', 'reparse', ['perl -e "$1"']],
      ['python3 -u /opt/fix.py --host="$1"', 'reparse', []],
      ['perl -w /opt/fix.pl -e "$1"', 'reparse', []],
      ['su --command="$1" root', 'reparse', ['su --command="$1"']],
      ['PS4_="$1"; PS4="$PS4_"; set -x; true', 'reparse', ['PS4="$PS4_"']],
      ['PATH="/opt/bin:${PATH}:$PATH" restart "$1"', 'reparse', []],
      ['[[ -f /run/x || printf %s "$1" | sh', 'unreadable', ['a "[[" without its "]]"']],
      ['[[ -f /run/x || -f /run/y ]] && restart "$1"', 'unreadable', []],
      ['[[ -f /run/x ||\n   -f /run/y ]] && restart "$1"', 'unreadable', []],
      ['[[ -f /run/x\nprintf %s "$1" | sh', 'unreadable', ['a "[[" without its "]]"']],
      // …and other places bash reads a value as code or arithmetic.
      ['trap "$1" EXIT', 'reparse', ['trap "$1"']],
      ["trap 'rm -f $1' EXIT", 'unquoted', ['$1']],
      ["trap 'rm -f \"$1\"' EXIT", 'reparse', []],
      ['PS4="$1"; set -x; true', 'reparse', ['PS4="$1"']],
      ['export BASH_ENV="$1"', 'reparse', ['BASH_ENV="$1"']],
      ['LD_PRELOAD="$1" id', 'reparse', ['LD_PRELOAD="$1"']],
      ['PATH="$1" restart', 'reparse', ['PATH="$1"']],
      ['HOST="$1" restart', 'reparse', []],
      ['PATH="/opt/bin:$PATH" restart "$1"', 'reparse', []],
      ['export PATH="$PATH:$1"', 'reparse', ['PATH="$PATH:$1"']],
      ['echo "${1@P}"', 'reparse', ['${1@P}']],
      ['echo "${1@Q}"', 'reparse', []],
      ['echo "$[$1]"', 'arithmetic', ['$1']],
      ['echo "$[1+2]"', 'arithmetic', []],
      ['declare -a a; a["$1"]=x', 'arithmetic', ['a["$1"]=x']],
      ['a[1]="$1"', 'arithmetic', []],
      ['local -i n; n="$1"', 'arithmetic', ['n="$1"']],
      ['local n; n="$1"', 'arithmetic', []],
      ['[[ -v "$1" ]]', 'arithmetic', ['-v "$1"']],
      ['test -v "$1"', 'arithmetic', ['-v "$1"']],
      ['[[ -n "$1" ]]', 'arithmetic', []],
      // Refused because the reader cannot follow it: never passed.
      ['echo "$1', 'unreadable', ['an unterminated double quote']],
      ["echo '$1", 'unreadable', ['an unterminated single quote']],
      ['echo $(id', 'unreadable', ['a "$(" or "(" without its ")"']],
      ['echo `id', 'unreadable', ['an unterminated backtick']],
      ['echo ${x', 'unreadable', ['a "${" without its "}"']],
      ['echo ) $1', 'unreadable', ['a ")" with nothing open at character 6']],
      ['cat <<EOF\n$1', 'unreadable', ['a here-document <<EOF without its closing line EOF']],
      ['cat <<EOF', 'unreadable', ['a here-document <<EOF without its body']],
      ['echo $((a) | b)', 'unreadable', ['"$((" that does not end with "))" (write "$( (" with a space for a subshell)']],
      [`echo ${'"$('.repeat(20)}${')"'.repeat(20)}`, 'unreadable', ['nesting deeper than 16']],
    ];
    findingRows(cases);
  });

  // Data reaching code without the spellings above: a program read from a descriptor the command feeds, a
  // variable filled by a builtin, a builtin that runs a string, a command named by data, a file written then run.
  // Each refused row passed the check before this table.
  describe('data reaching code by other roads', function () {
    const refused: [string, string, string[]][] = [
      // A shell or interpreter reading its program from a descriptor it inherits (a group, a subshell, eval,
      // exec, an sh -c string, a function, <&3, /dev/fd/3) while the command feeds one anywhere.
      // The group's output is data on the stdin of the command it is piped to (read as such first).
      ['{ echo "$1"; } | sh', 'reparse', ['data on the stdin of sh']],
      ['(echo "$1") | bash', 'reparse', ['data on the stdin of bash']],
      ['echo "$1" | (sh)', 'reparse', ['data on the stdin of sh']],
      ['echo "$1" | { bash; }', 'reparse', ['data on the stdin of bash']],
      ['echo "$1" | { cat; } | { cd /tmp && bash; }', 'reparse', ['data on the stdin of bash']],
      ['{ sh; } <<< "$1"', 'reparse', ['sh reads a descriptor the command feeds']],
      ['eval sh <<< "$1"', 'reparse', ['sh reads a descriptor the command feeds']],
      ['sh -c sh <<< "$1"', 'reparse', ['sh reads a descriptor the command feeds']],
      ['exec <<< "$1"; sh', 'reparse', ['sh reads a descriptor the command feeds']],
      // (A call's stdin is its body's: the body is checked as reading the data too.)
      ['f() { bash; }; f <<< "$1"', 'reparse', ['data on the stdin of bash', 'bash reads a descriptor the command feeds']],
      ['sh /dev/fd/3 3<<< "$1"', 'reparse', ['sh /dev/fd/3 reads a descriptor the command feeds']],
      ['. /dev/fd/3 3<<< "$1"', 'reparse', ['. /dev/fd/3 reads a descriptor the command feeds']],
      ['bash /proc/self/fd/4 4< <(echo "$1")', 'reparse', ['bash /proc/self/fd/4 reads a descriptor the command feeds']],
      ['sh < <(echo "$1")', 'reparse', ['sh < <(echo "$1")']],
      ['. /dev/fd//3 3<<< "$1"', 'reparse', ['. /dev/fd//3 reads a descriptor the command feeds']],
      ['sh /proc/self/task/1/fd/3 3<<< "$1"', 'reparse', ['sh /proc/self/task/1/fd/3 reads a descriptor the command fe…']],
      ['cd /dev/fd; sh 3 3<<< "$1"', 'reparse', ['sh 3 reads a descriptor the command feeds']],
      ['sh /dev//stdin <<< "$1"', 'reparse', ['data on the stdin of sh']],
      ['exec 3< <(echo "$1"); sh <&3', 'reparse', ['sh reads a descriptor the command feeds']],
      // (printenv prints the SELFHEAL_PARAM_* values: data on the stdin of what it is piped to.)
      ['printenv SELFHEAL_PARAM_X | sh', 'reparse', ['data on the stdin of sh']],
      ['exec 3< <(echo "$1"); ssh web-01 < /dev/fd/3', 'reparse', ['ssh without a command reads a descriptor the command feeds']],
      ['echo "$1" > /tmp/in; python3 < /tmp/in', 'reparse', ['python3 < /tmp/in runs a file the command writes']],
      // awk and sed programs from stdin, a descriptor or a file of data.
      ['printf %s "$1" | awk -f - f', 'reparse', ['data on the stdin of awk -f']],
      ['awk -f /dev/stdin f <<< "$1"', 'reparse', ['data on the stdin of awk -f']],
      ['awk --file=/dev/stdin f <<< "$1"', 'reparse', ['data on the stdin of awk -f']],
      ['sed -f /dev/stdin f <<< "$1"', 'reparse', ['data on the stdin of sed -f']],
      ['printf %s "$1" | sed -f - f', 'reparse', ['data on the stdin of sed -f']],
      ['awk -f /dev/fd/3 f 3<<< "$1"', 'reparse', ['awk -f /dev/fd/3 reads a descriptor the command feeds']],
      ['sed -f <(echo "$1") f', 'reparse', ['sed -f <(echo "$1")']],
      ["echo \"$1\" | awk '{system($0)}'", 'reparse', ["awk '{system($0)}'"]],
      ["echo \"$1\" | awk '{print | \"sh\"}'", 'reparse', ["awk '{print | \"sh\"}'"]],
      ["echo \"$1\" | awk '{ \"cat \" $0 | getline x }'", 'reparse', ["awk '{ \"cat \" $0 | getline x }'"]],
      ['echo "$1" | sed e', 'reparse', ['sed e']],
      ["echo \"$1\" | sed -n '1e'", 'reparse', ["sed '1e'"]],
      ["echo \"$1\" | sed 's/^/restart /e'", 'reparse', ["sed 's/^/restart /e'"]],
      // Code, integer and name-reference variables filled without an assignment word; a variable named by data.
      ['read -r PS4 <<< "$1"; set -x', 'reparse', ['read PS4']],
      ['read RANDOM <<< "$1"', 'arithmetic', ['read RANDOM']],
      ['read -ra PROMPT_COMMAND <<< "$1"', 'reparse', ['read PROMPT_COMMAND']],
      ['declare -i n; read -r n <<< "$1"', 'arithmetic', ['read n']],
      ['mapfile -t PROMPT_COMMAND <<< "$1"', 'reparse', ['mapfile PROMPT_COMMAND']],
      ['readarray -t RANDOM <<< "$1"', 'arithmetic', ['readarray RANDOM']],
      ['for RANDOM in "$1"; do :; done', 'arithmetic', ['for RANDOM']],
      ['for PS4; do set -x; done', 'reparse', ['for PS4']],
      ['select BASH_ENV in "$@"; do bash; done', 'reparse', ['select BASH_ENV']],
      ['printf -v RANDOM %s "$1"', 'arithmetic', ['printf RANDOM']],
      ['printf -v PS4 %s "$1"; set -x', 'reparse', ['printf PS4']],
      ['printf -vPS4 %s "$1"', 'reparse', ['printf PS4']],
      ['read -raPROMPT_COMMAND <<< "$1"', 'reparse', ['read PROMPT_COMMAND']],
      ['getopts a: GIT_SSH_COMMAND "$@"', 'reparse', ['getopts GIT_SSH_COMMAND']],
      ['read "$1" <<< x', 'arithmetic', ['read "$1"']],
      ['unset "$1"', 'arithmetic', ['unset "$1"']],
      ['printf -v "$1" %s x', 'arithmetic', ['printf "$1"']],
      ['declare -n r=PS4; r="$1"; set -x', 'reparse', ['r="$1"']],
      ['local -n r=RANDOM; read r <<< "$1"', 'reparse', ['read r']],
      ['export "$1"=x', 'reparse', ['export "$1"=x']],
      ['declare "$1"', 'reparse', ['declare "$1"']],
      ['env GIT_SSH_COMMAND="$1" git fetch', 'reparse', ['GIT_SSH_COMMAND="$1"']],
      ['env BASH_ENV="$1" bash -c true', 'reparse', ['BASH_ENV="$1"']],
      ['sudo LD_PRELOAD="$1" id', 'reparse', ['LD_PRELOAD="$1"']],
      ['GIT_SSH_COMMAND="$1" git fetch', 'reparse', ['GIT_SSH_COMMAND="$1"']],
      ['export JAVA_TOOL_OPTIONS="$1" RSYNC_RSH="$2"', 'reparse', ['JAVA_TOOL_OPTIONS="$1"', 'RSYNC_RSH="$2"']],
      // Builtins that run or expand a string.
      ['compgen -W "$1" x', 'reparse', ['compgen -W "$1" x']],
      ["compgen -W '$(id) $1' x", 'reparse', ['compgen -W']],
      ['complete -C "$1" x', 'reparse', ['complete -C "$1" x']],
      ['mapfile -C "$1" -c 1 a < /tmp/list', 'reparse', ['mapfile -C "$1"']],
      ['mapfile -C eval -c 1 a <<< "$1"', 'reparse', ['eval 0 "$1"']],
      ['bind -x "$1"', 'reparse', ['bind -x "$1"']],
      ['hash -p "$1" ls; ls', 'reparse', ['hash -p "$1" ls']],
      ['enable -f "$1" x', 'reparse', ['enable -f "$1" x']],
      ['fc -e "$1"', 'reparse', ['fc -e "$1"']],
      ['alias e=eval\ne "$1"', 'reparse', ['alias e=eval']],
      // A command named by data, and interpreters behind wrappers.
      ['"$1" --version', 'reparse', ['"$1" (a command named by data)']],
      ['c="$1"; "$c" restart', 'reparse', ['"$c" (a command named by data)']],
      ['exec "$1"', 'reparse', ['"$1" (a command named by data)']],
      ['{ "$@"; }', 'reparse', ['"$@" (a command named by data)']],
      ['f() { "$@"; }; f "$1"', 'reparse', ['f "$1" (runs its arguments as a command)']],
      ['function g { n=$1; shift; "$@"; }; g 3 "$1" x', 'reparse', ['g 3 "$1" x (runs its arguments as a command)']],
      ['run() { "$2" x; }; timeout 5 run a "$1"', 'reparse', ['run a "$1" (runs its arguments as a command)']],
      ['timeout 5 "$1" x', 'reparse', ['timeout "$1" (a command named by data)']],
      ['timeout -k 5 10 "$1"', 'reparse', ['timeout "$1" (a command named by data)']],
      ['sudo -u app "$c" x', 'reparse', ['sudo "$c" (a command named by data)']],
      ['env X=1 "$1"', 'reparse', ['env "$1" (a command named by data)']],
      ['nice -n 5 ionice -c 3 "$1"', 'reparse', ['ionice "$1" (a command named by data)']],
      ['find /tmp -name x -exec "$1" {} \\;', 'reparse', ['find -exec "$1" (a command named by data)']],
      ['fakeroot python3 -c "$1"', 'reparse', ['python3 -c "$1"']],
      ['foo --bar python3 -c "$1"', 'reparse', ['python3 -c "$1"']],
      ['sshpass -f /etc/pw ssh web "restart $1"', 'reparse', ['ssh web "restart $1"']],
      ['docker exec web python3 -c "print(\'$1\')"', 'reparse', ['python3 -c "print(\'$1\')"']],
      ['docker exec -i web sh <<< "$1"', 'reparse', ['data on the stdin of sh']],
      ['echo "$1" | xargs sh -c', 'reparse', ['data on the stdin of xargs sh -c']],
      ["echo \"$1\" | xargs -I{} sh -c '{}'", 'reparse', ["data on the stdin of xargs -I{} sh -c '{}'"]],
      ['parallel restart ::: "$1"', 'reparse', ['parallel restart ::: "$1"']],
      ['su app "$1"', 'reparse', ['su "$1"']],
      ['echo "$1" | su app', 'reparse', ['data on the stdin of su']],
      // sg and newgrp without a command, and sudo -s/-i without one, run a shell that reads its commands from stdin.
      ['echo "$1" | sg adm', 'reparse', ['data on the stdin of sg']],
      ['echo "$1" | newgrp adm', 'reparse', ['data on the stdin of newgrp']],
      ['sg adm <<< "$1"', 'reparse', ['data on the stdin of sg']],
      ['echo "$1" | sudo sg - adm', 'reparse', ['data on the stdin of sg']],
      ['echo "$1" | sudo -s', 'reparse', ['data on the stdin of sudo -s']],
      ['echo "$1" | sudo -u app -i', 'reparse', ['data on the stdin of sudo -i']],
      ['sudo --login <<< "$1"', 'reparse', ['data on the stdin of sudo --login']],
      ['sudo -s "restart $1"', 'reparse', ['sudo -s "restart $1"']],
      ['script -qc "restart $1" /dev/null', 'reparse', ['script -qc "restart $1"']],
      // A file written with data (or with what a command printed) and then run.
      ['echo "$1" > /tmp/x.sh; sh /tmp/x.sh', 'reparse', ['sh /tmp/x.sh runs a file the command writes']],
      ['printf %s "$1" > f; . ./f', 'reparse', ['. ./f runs a file the command writes']],
      ['echo "$1" >> /tmp/f; source /tmp//f', 'reparse', ['source /tmp//f runs a file the command writes']],
      ['echo "$1" > /tmp/x; chmod +x /tmp/x; /tmp/x', 'reparse', ['/tmp/x runs a file the command writes']],
      ['cd /tmp; echo "$1" | tee x.sh; bash /tmp/x.sh', 'reparse', ['bash /tmp/x.sh runs a file the command writes']],
      ['printenv > /tmp/e; . /tmp/e', 'reparse', ['. /tmp/e runs a file the command writes']],
      ['echo "$1" > /tmp/a; cp /tmp/a /tmp/b.sh; sh /tmp/b.sh', 'reparse', ['sh /tmp/b.sh runs a file the command writes']],
      ['echo "$1" > "$HOME/x.sh"; sh ~/x.sh', 'reparse', ['sh ~/x.sh runs a file the command writes']],
      ['echo "$1" > /tmp/p.awk; awk -f /tmp/p.awk f', 'reparse', ['awk -f /tmp/p.awk runs a file the command writes']],
      ['echo "$1" > /tmp/c; crontab /tmp/c', 'reparse', ['crontab /tmp/c runs a file the command writes']],
      ['echo "* * * * * $1" | crontab -', 'reparse', ['data on the stdin of crontab']],
      ['at now <<< "$1"', 'reparse', ['data on the stdin of at']],
      ['echo "$1" > /tmp/j; at -f /tmp/j now', 'reparse', ['at -f /tmp/j runs a file the command writes']],
      ['echo "$1" | sudo tee -a /etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']],
      ['printf \'%s\\n\' "$1" >> "$HOME/.bashrc"', 'reparse', ['.bashrc is read as code later']],
      ['echo "$1" >> /root/.ssh/authorized_keys', 'reparse', ['/root/.ssh/authorized_keys is read as code later']],
      ['a=(["$1"]=x)', 'arithmetic', ['["$1"]=x']],
      ['echo "$1" > x; mv x /usr/local/bin/fix; fix', 'reparse', ['fix runs a file the command writes']],
      ['echo "$1" > /tmp/a; bash -o pipefail /tmp/a', 'reparse', ['bash /tmp/a runs a file the command writes']],
      ['echo "$1" > /tmp/a; xargs -a /tmp/a sh -c', 'reparse', ['xargs -a /tmp/a runs a file the command writes']],
      ['timeout 5 /tmp/x.sh; echo "$1" > /tmp/x.sh', 'reparse', ['/tmp/x.sh runs a file the command writes']],
      // A command or script named by a glob or a brace expansion: not the literal name read here.
      ['/bin/ba[s]h -c "$1"', 'reparse', ['/bin/ba[s]h (a command named by a pattern)']],
      ['/bin/da?h -c "$1"', 'reparse', ['/bin/da?h (a command named by a pattern)']],
      ['sudo /bin/ba[s]h -c "$1"', 'reparse', ['/bin/ba[s]h (a command named by a pattern)']],
      ['docker exec web /bin/ba[s]h -c "$1"', 'reparse', ['/bin/ba[s]h (a command named by a pattern)']],
      ['echo "$1" > /tmp/y; sh /tmp/y*', 'reparse', ['sh /tmp/y* (a file named by a pattern)']],
      ['echo "$1" > /tmp/y; sh /tmp/[y]', 'reparse', ['sh /tmp/[y] (a file named by a pattern)']],
      ['echo "$1" > /tmp/y; . \'/tmp/y\'*', 'reparse', [". '/tmp/y'* (a file named by a pattern)"]],
      ['{eval,:} "$1"', 'reparse', ['{eval,:} (a command named by a pattern)']],
      ['e{v,}al "$1"', 'reparse', ['e{v,}al (a command named by a pattern)']],
      ['{sh,-c} "$1"', 'reparse', ['{sh,-c} (a command named by a pattern)']],
      ['/usr/bin/{bash,} -c "$1"', 'reparse', ['/usr/bin/{bash,} (a command named by a pattern)']],
      // A script written, then run by a name without a slash: a path relative to the current folder.
      ['echo "$1" > x.sh; bash x.sh', 'reparse', ['bash x.sh runs a file the command writes']],
      ['echo "$1" > x.sh; sh x.sh', 'reparse', ['sh x.sh runs a file the command writes']],
      ['echo "$1" > x.sh; . x.sh', 'reparse', ['. x.sh runs a file the command writes']],
      ['cd /tmp; echo "$1" > /tmp/x.sh; source x.sh', 'reparse', ['source x.sh runs a file the command writes']],
      ['echo "$1" > x.py; python3 x.py', 'reparse', ['python3 x.py runs a file the command writes']],
      // A file written by the redirection of a group, a subshell, a loop, or of the shell itself (exec).
      ['{ echo "$1"; } > /tmp/y; sh /tmp/y', 'reparse', ['sh /tmp/y runs a file the command writes']],
      ['(echo "$1") > /tmp/y; sh /tmp/y', 'reparse', ['sh /tmp/y runs a file the command writes']],
      ['for i in 1; do echo "$1"; done > /tmp/y; sh /tmp/y', 'reparse', ['sh /tmp/y runs a file the command writes']],
      ['if true; then echo "$1"; fi >> /tmp/y; . /tmp/y', 'reparse', ['. /tmp/y runs a file the command writes']],
      ['exec >/tmp/y; echo "$1"; sh /tmp/y', 'reparse', ['sh /tmp/y runs a file the command writes']],
      ['exec 3>/tmp/y; echo "$1" >&3; bash /tmp/y', 'reparse', ['bash /tmp/y runs a file the command writes']],
      // Start-up files a shell reads before its program: BASH_ENV, ENV, --rcfile, --init-file.
      ['BASH_ENV=/dev/stdin bash -c : <<< "$1"', 'reparse', ['data on the stdin of BASH_ENV']],
      ['echo "$1" | BASH_ENV=/dev/stdin bash -c true', 'reparse', ['data on the stdin of BASH_ENV']],
      ['echo "$1" | env BASH_ENV=/dev/stdin bash -c true', 'reparse', ['data on the stdin of BASH_ENV']],
      ['BASH_ENV=/dev/fd/3 bash -c : 3<<< "$1"', 'reparse', ['BASH_ENV /dev/fd/3 reads a descriptor the command feeds']],
      ['export BASH_ENV=/dev/stdin; echo "$1" | bash -c :', 'reparse', ['BASH_ENV reads a descriptor the command feeds']],
      ['echo "$1" >/tmp/y; BASH_ENV=/tmp/y bash -c :', 'reparse', ['BASH_ENV /tmp/y runs a file the command writes']],
      ['echo "$1" >/tmp/y; ENV=/tmp/y sh -i', 'reparse', ['ENV /tmp/y runs a file the command writes']],
      ['echo "$1" >/tmp/y; bash --rcfile /tmp/y -i', 'reparse', ['--rcfile /tmp/y runs a file the command writes']],
      ['echo "$1" >/tmp/y; bash --init-file /tmp/y -i', 'reparse', ['--init-file /tmp/y runs a file the command writes']],
      // A link the command makes to a descriptor's path is that descriptor.
      ['ln -s /dev/stdin /tmp/s; echo "$1" | . /tmp/s', 'reparse', ['. /tmp/s reads a descriptor the command feeds']],
      ['ln -sf /dev/fd /tmp/d; sh /tmp/d/3 3<<< "$1"', 'reparse', ['sh /tmp/d/3 reads a descriptor the command feeds']],
      ['ln -s /proc/self/fd/0 s; sh s <<< "$1"', 'reparse', ['sh s reads a descriptor the command feeds']],
      // …made in a folder under the descriptor's own name: -t DIR, a single operand (./stdin), a last operand that is a folder.
      ['ln -s -t /tmp /dev/stdin; echo "$1" | sh /tmp/stdin', 'reparse', ['sh /tmp/stdin reads a descriptor the command feeds']],
      ['ln -s --target-directory=/tmp /dev/stdin; . /tmp/stdin <<< "$1"', 'reparse', ['. /tmp/stdin reads a descriptor the command feeds']],
      ['ln -st /tmp /dev/fd/0; bash /tmp/0 <<< "$1"', 'reparse', ['bash /tmp/0 reads a descriptor the command feeds']],
      ['ln -s /dev/stdin; echo "$1" | sh stdin', 'reparse', ['sh stdin reads a descriptor the command feeds']],
      ['ln -s -S .bak /dev/stdin; sh ./stdin <<< "$1"', 'reparse', ['sh ./stdin reads a descriptor the command feeds']],
      ['ln -s /dev/stdin /tmp; cd /tmp; sh stdin <<< "$1"', 'reparse', ['sh stdin reads a descriptor the command feeds']],
      ['ln -s /dev/stdin "$HOME/s"; cd; sh s <<< "$1"', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['cp -s /dev/stdin /tmp/s; sh /tmp/s <<< "$1"', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      // cp copies a link as a link unless it dereferences (-L, -H): -a, -P, -d, -r, --no-dereference copy /dev/stdin's link.
      ['cp -a /dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['cp -P /dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['cp -d /dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['cp -r /dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['cp --no-dereference /dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['cp -L -P /dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['echo "$1" | cp /dev/stdin s; sh s', 'reparse', ['sh s runs a file the command writes']],
      // mv moves /dev/stdin's link itself; rsync copies it as a link with -a, -l, --links (unless -L).
      ['rsync -a /dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['rsync -l /dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['rsync --links /dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['rsync -e ssh -a /dev/fd /tmp/; sh /tmp/fd/3 3<<< "$1"', 'reparse', ['sh /tmp/fd/3 reads a descriptor the command feeds']],
      ['mv /dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['mv -t /tmp /dev/stdin; echo "$1" | . /tmp/stdin', 'reparse', ['. /tmp/stdin reads a descriptor the command feeds']],
      // bash's brace expansion in a link's or a write's operands names the files it expands to.
      ['ln -s /dev/stdin /tmp/h{,}; echo "$1" | sh /tmp/h', 'reparse', ['sh /tmp/h reads a descriptor the command feeds']],
      ['ln -s {/dev/stdin,/tmp/s}; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['ln -s /dev/std{in,err} /tmp/; echo "$1" | sh /tmp/stdin', 'reparse', ['sh /tmp/stdin reads a descriptor the command feeds']],
      ['echo "$1" > {/tmp/y,}; sh /tmp/y', 'reparse', ['sh /tmp/y runs a file the command writes']],
      ['echo "$1" > /tmp/y{1..1}; sh /tmp/y1', 'reparse', ['sh /tmp/y1 runs a file the command writes']],
      ['echo "$1" > /tmp/a; cp /tmp/a{,.sh}; sh /tmp/a.sh', 'reparse', ['sh /tmp/a.sh runs a file the command writes']],
      ['echo "$1" | tee /tmp/{a,b}; sh /tmp/b', 'reparse', ['sh /tmp/b runs a file the command writes']],
      ['ln -s "$2"{,x} /tmp/s; sh /tmp/s <<< "$1"', 'reparse', ['"$2"{,x} (a file named by a brace expansion)', 'sh /tmp/s runs a file the command writes']],
      ['ln -s "/dev/"{stdin,x} /tmp/; sh /tmp/stdin <<< "$1"', 'reparse', ['"/dev/"{stdin,x} (a file named by a brace expansion)', 'sh /tmp/stdin reads a descriptor the command feeds']],
      // Nested braces expand too (no brace pair without braces inside holds the comma), and zero-padding is
      // bash's own rule per end: refused rather than guessed (a reviewer's rows; both were accepted).
      ['echo "$1" > /tmp/x; sh /tmp/{x,{y}}', 'reparse', ['sh /tmp/{x,{y}} (a file named by a pattern)']],
      ['ln -s /dev/stdin /tmp/s{1..01}; echo "$1" | sh /tmp/s01', 'reparse', ['/tmp/s{1..01} (a file named by a brace expansion)']],
      ['ln -s /dev/stdin /tmp/s{01..2}; echo "$1" | sh /tmp/s01', 'reparse', ['/tmp/s{01..2} (a file named by a brace expansion)']],
      // A relative link target resolves from the link's folder: enough `..` reach / (`cd /tmp && ln -s ../dev/stdin s`).
      ['cd /tmp && ln -s ../dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']],
      ['ln -s ../../../../dev/stdin s; echo "$1" | sh s', 'reparse', ['sh s reads a descriptor the command feeds']], // stands-alone: not a path
      ['ln -s ../proc/self/fd/0 /tmp/s; sh /tmp/s <<< "$1"', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['ln -s ../x/../dev/fd /tmp/d; sh /tmp/d/3 3<<< "$1"', 'reparse', ['sh /tmp/d/3 reads a descriptor the command feeds']],
      ['ln -s /dev /tmp/d; ln -s d/stdin /tmp/s; sh /tmp/s <<< "$1"', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      // `..` after a real component goes back through wherever that component links (`/var/run` is `/run`): read as a descriptor.
      ['echo "$1" | sh /var/run/../dev/stdin', 'reparse', ['sh /var/run/../dev/stdin reads a descriptor the command fee…']],
      ['sh /var/run/../dev/stdin <<< "$1"', 'reparse', ['sh /var/run/../dev/stdin reads a descriptor the command fee…']],
      ['echo "$1" | . /var/run/../dev/stdin', 'reparse', ['. /var/run/../dev/stdin reads a descriptor the command feeds']],
      ['awk -f /var/run/../dev/stdin <<< "$1"', 'reparse', ['awk -f /var/run/../dev/stdin reads a descriptor the command…']],
      ['echo "$1" | python3 /var/run/../dev/stdin', 'reparse', ['python3 /var/run/../dev/stdin reads a descriptor the comman…']],
      ['cd /var/run && echo "$1" | sh ../dev/stdin', 'reparse', ['sh ../dev/stdin reads a descriptor the command feeds']],
      ['ln -s /var/run/../dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      // A file written or run through such a `..` is matched by its name.
      ['echo "$1" > /var/run/../tmp/x; sh /tmp/x', 'reparse', ['sh /tmp/x runs a file the command writes']],
      ['echo "$1" > /tmp/x; sh /var/run/../tmp/x', 'reparse', ['sh /var/run/../tmp/x runs a file the command writes']],
      ['echo "$1" > /var/run/../usr/local/bin/fix; fix', 'reparse', ['fix runs a file the command writes']],
      // A link to `/` holds /dev and /proc: a path through it, or through a link made through it, is a descriptor's.
      ['ln -s / /tmp/r; echo "$1" | sh /tmp/r/dev/stdin', 'reparse', ['sh /tmp/r/dev/stdin reads a descriptor the command feeds']],
      ['ln -s / /tmp/r; ln -s r/dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['ln -s / /tmp/r; ln -s /tmp/r/dev/stdin /tmp/s; echo "$1" | sh /tmp/s', 'reparse', ['sh /tmp/s reads a descriptor the command feeds']],
      ['ln -s .. /tmp/r; echo "$1" | sh /tmp/r/dev/stdin', 'reparse', ['sh /tmp/r/dev/stdin reads a descriptor the command feeds']],
      ['ln -s / /tmp/r; cd /tmp/r/dev; echo "$1" | sh stdin', 'reparse', ['sh stdin reads a descriptor the command feeds']],
      // A group's, a loop's or exec's redirection to a path built from data writes its literal last component.
      ['{ echo "$1"; } > "$HOME/x.sh"; cd; sh x.sh', 'reparse', ['sh x.sh runs a file the command writes']],
      ['(printf %s "$1") > "$HOME"/x.sh; . ~/x.sh', 'reparse', ['. ~/x.sh runs a file the command writes']],
      ['for i in 1; do echo "$1"; done > "$TMPDIR/y"; sh /tmp/y', 'reparse', ['sh /tmp/y runs a file the command writes']],
      ['exec > "$HOME/fix.sh"; echo "$1"; bash ~/fix.sh', 'reparse', ['bash ~/fix.sh runs a file the command writes']],
      ['{ echo "$1"; } >> "$HOME/.bashrc"', 'reparse', ['.bashrc is read as code later']],
      // xargs -a and gawk -E, -e and --source, however spelled; busybox's hush is a shell.
      ['echo "$1" > /tmp/a; xargs --arg-file=/tmp/a sh -c', 'reparse', ['xargs -a /tmp/a runs a file the command writes']],
      ['echo "$1" > /tmp/a; xargs -0a /tmp/a sh -c', 'reparse', ['xargs -a /tmp/a runs a file the command writes']],
      ["echo \"$1\" | gawk --source='{system($0)}'", 'reparse', ['gawk {system($0)}']],
      ['echo "$1" > /tmp/p.awk; gawk -E /tmp/p.awk', 'reparse', ['gawk -E /tmp/p.awk runs a file the command writes']],
      ['busybox hush -c "$1"', 'reparse', ['hush -c "$1"']],
      ['echo "$1" | hush', 'reparse', ['data on the stdin of hush']],
      // `.` and interpreters: the file after `--` or after an option's value.
      ['echo "$1" > /tmp/x; . -- /tmp/x', 'reparse', ['. /tmp/x runs a file the command writes']],
      ['echo "$1" > /tmp/x.py; python3 -X dev /tmp/x.py', 'reparse', ['python3 /tmp/x.py runs a file the command writes']],
      ['echo "$1" > /tmp/x.py; python3 -E /tmp/x.py', 'reparse', ['python3 /tmp/x.py runs a file the command writes']],
      ['echo "$1" > /tmp/x.rb; ruby -r json /tmp/x.rb', 'reparse', ['ruby /tmp/x.rb runs a file the command writes']],
      // bash's hook for a command not found runs whatever the command names.
      ['command_not_found_handle() { shift; "$@"; }; nosuch eval "$1"', 'reparse', ['command_not_found_handle (runs every command not found)']],
      ['function command_not_found_handle { echo "$1"; }; restart "$1"', 'reparse', ['command_not_found_handle (runs every command not found)']],
    ];
    findingRows(refused);

    // Ordinary scripts these roads pass by: still accepted.
    const accepted = [
      'bash -s -- "$1" <<\'EOF\'\nrestart "$1"\nEOF',
      'ssh web-01 <<\'EOF\'\nuptime\nEOF\nrestart "$1" | tee -a /var/log/fix.log',
      'python3 - "$1" <<\'EOF\'\nimport sys; print(sys.argv[1])\nEOF',
      'awk -f /opt/fix.awk -- "$1"',
      'sed -f /opt/fix.sed -- "$1"',
      "awk '/error|fail/ {print $1}' \"$1\"",
      "awk -v h=\"$1\" '$1 == h || $2 == h {print $3}' /etc/hosts",
      "sed -e 's/eth0/ens3/g' -e '/^#/d' -- \"$1\"",
      "sed -i 's/^enabled=.*/enabled=1/' /etc/fix.conf; restart \"$1\"",
      'while read -r line; do restart "$line"; done <<< "$1"',
      'while read -r pid; do kill "$pid"; done < <(pgrep -f "$1")',
      'for h in "$@"; do restart "$h"; done',
      'printf -v msg \'restart %s\' "$1"; logger "$msg"',
      'GIT_AUTHOR_NAME="$1" git commit -m fix',
      'local x="$1"; export Y="$1"; declare -a a=("$1"); b=("$@" x)',
      'hash -r; restart "$1"',
      'timeout 5 restart "$1"',
      'timeout "$SELFHEAL_PARAM_T" restart x',
      'sudo -u app systemctl restart "$1"',
      'sudo -u "$1" id',
      'nice -n 10 ionice -c 3 restart "$1"',
      'find /var/log -name "$1" -exec gzip {} \\;',
      'printf \'%s\\0\' "$1" | xargs -0 restart --',
      'xargs restart < /etc/selfheal/services',
      'cat > /tmp/fix.sh <<\'EOF\'\nrestart "$1"\nEOF\nbash /tmp/fix.sh "$1"',
      'restart "$1" > /var/log/fix.log 2>&1; /opt/fix/report.sh',
      '/usr/local/bin/healthcheck > /tmp/hc/healthcheck.out; restart "$1"',
      'echo ok > /tmp/flag; /opt/fix/run "$1"',
      'restart "$1" > /tmp/restart.log; restart "$1" > restart',
      'cat >> /etc/cron.d/logrotate-fix <<\'EOF\'\n0 * * * * root /usr/sbin/logrotate -f /etc/logrotate.conf\nEOF\nrestart "$1"',
      'declare -A seen=(["web"]=1); restart "$1"',
      'case "$h" in "$1") restart "$1";; esac',
      'pgrep -f "$1" | xargs -r kill',
      'cd /opt/fix; sh ./run.sh "$1" | tee -a /var/log/fix.log',
      'sh /dev/null; restart "$1" < /dev/null',
      'retry() { for i in 1 2 3; do "$@" && return; sleep 1; done; }; retry systemctl restart "$1"',
      'rm -f /tmp/x*; restart "$1"',
      'tar -czf /tmp/logs.tgz /var/log/fix*.log; restart "$1"',
      'echo ok > x.sh; sh x.sh "$1"; echo "$1" > /tmp/log',
      'exec > /var/log/fix.log 2>&1; { restart "$1"; } > /tmp/restart.log; /opt/fix/report.sh',
      'BASH_ENV=/etc/fix.env bash -c \'restart "$1"\' _ "$1"',
      'ln -s /opt/fix/run.sh /tmp/r; sh /tmp/r "$1"; ln -s /dev/null /tmp/n; . /tmp/n',
      "find /tmp -name '*.log' -delete; restart \"$1\"",
      '[ "$1" = x ] && [[ "$1" == x ]] && restart "$1"',
      // A pattern in an option names no command, and ENV is everyday deployment wording (a reviewer's rows).
      'tar --exclude=*.tmp -czf "/backup/$1.tgz" /data',
      'grep --include=*.log -rc "$1" /var/log',
      'cd app && ENV=prod ./run.sh "$1" | logger -t app',
      'ENV=prod /opt/app/restart.sh "$1" 2>&1 | logger; cd releases',
      'ENV=production /opt/app/deploy.sh "$1" > /var/log/production',
      // Links and redirections like the refused ones above, with nothing of a descriptor or of data run.
      'ln -sf -t /usr/local/bin /opt/fix/bin/restart; restart "$1" <<< "$1"',
      'ln -s /opt/fix/stdin.sh; sh stdin.sh "$1" <<< "$1"',
      'ln -s -t /tmp /dev/null; sh /tmp/null <<< "$1"',
      'cp -a -t /tmp /opt/fix/stdin; sh /opt/fix/run.sh "$1" <<< "$1"',
      '{ restart "$1"; } > "$HOME/restart.log"; sh /opt/fix/report.sh',
      // cp without -a/-P/-d/-r copies stdin's data; a relative link target elsewhere than /dev or /proc.
      'cp /dev/stdin /tmp/s; echo "$1" | sh /tmp/s',
      'cp -aL /dev/stdin /tmp/s; echo "$1" | sh /tmp/s',
      'cp -rH /dev/stdin /tmp/s; echo "$1" | sh /tmp/s',
      'ln -s ../opt/fix/run.sh /tmp/r; sh /tmp/r "$1" <<< "$1"',
      // `..` only before any real component, or none: nothing goes back through a link.
      'cd /var/run && sh ./fix.sh "$1" <<< "$1"',
      'echo "$1" | sh /var/run/fix.sh',
      'ln -s ../opt/fix/run.sh /var/run/r; echo "$1" | sh /var/run/r',
      'cd /var/log && find . -name "*.gz" -mtime +7 -delete',
      'echo "$1" > /var/run/../tmp/x.log; sh /tmp/fix.sh',
      'ln -sfn /opt/app/releases/"$1" /opt/app/current',
      // rsync and mv of ordinary files, and rsync -L copying what /dev/stdin leads to.
      'rsync -a /srv/app/ /backup/app/; echo "$1" | sh /backup/app/run.sh',
      'rsync -a --exclude .git /srv/app/ /backup/app/; restart "$1" <<< "$1"',
      'mv /tmp/new.conf /etc/app.conf; echo "$1" | sh /opt/fix/run.sh',
      'rsync -aL /dev/stdin /tmp/s; echo "$1" | sh /tmp/s',
      // Brace expansion that names no descriptor and no file run.
      'cp /etc/app.conf{,.bak}; restart "$1"',
      'mv /etc/app.conf{,.old}; echo "$1" | sh /opt/fix/run.sh',
      'ln -s /opt/fix/run{,}.sh /tmp/r; sh /tmp/r "$1" <<< "$1"',
      'cp /etc/{a,b}.conf /backup/; restart "$1" > "/var/log/fix-${HOST,,}.log"',
      'rsync -a /srv/app/ /backup/app/',
      'mv /tmp/new.conf /etc/app.conf',
      // Links to folders other than `/`, and paths through them.
      'ln -sfn /opt/app/releases/v2 /opt/app/current; echo "$1" | sh /opt/app/current/bin/fix.sh',
      'ln -s /srv /tmp/r; cd /tmp/r; echo "$1" | sh ./fix.sh',
      "env -S 'restart\t--quiet' \"$1\"",
      '. -- /opt/fix/lib.sh; restart "$1"',
      'xargs --arg-file=/etc/fix/services sh -c \'restart "$1"\' _',
      'node -r /opt/otel.js /opt/app.js "$1"',
    ];
    acceptedRows(accepted);
  });

  // Roads the list in docs/security.md ("What the shell-words check does not see") named before this table:
  // each refused row passed the check before it.
  describe('files run later, gawk includes, source -p, found names, interpreters\' unknown options', function () {
    const refused: [string, string, string[]][] = [
      // Data written (redirection, tee, cp, mv, install, dd of=, sed -i, sed w) to files other programs run or load later.
      ['echo "$1" | sudo tee /etc/logrotate.d/app', 'reparse', ['/etc/logrotate.d/app is read as code later']],
      ['echo "$1" >> /etc/logrotate.conf', 'reparse', ['/etc/logrotate.conf is read as code later']],
      ['printf \'%s\\n\' "$1" > /etc/udev/rules.d/99-fix.rules', 'reparse', ['/etc/udev/rules.d/99-fix.rules is read as code later']],
      ['echo "$1" | install -m 644 /dev/stdin /lib/udev/rules.d/99-fix.rules', 'reparse', ['/lib/udev/rules.d/99-fix.rules is read as code later']],
      ['echo "$1" > /usr/lib/udev/rules.d/99-fix.rules', 'reparse', ['/usr/lib/udev/rules.d/99-fix.rules is read as code later']],
      ['echo "$1" > /tmp/a; cp /tmp/a /etc/apt/apt.conf.d/99fix', 'reparse', ['/etc/apt/apt.conf.d/99fix is read as code later']],
      ['dd of=/etc/modprobe.d/fix.conf <<< "$1"', 'reparse', ['/etc/modprobe.d/fix.conf is read as code later']],
      ['echo "$1" > /tmp/p; mv /tmp/p /etc/pam.d/sshd', 'reparse', ['/etc/pam.d/sshd is read as code later']],
      // cp's source holding data, a file the command wrote, or /proc (the SELFHEAL_PARAM_* values are in environ); its destination only is written.
      ['cp /proc/self/environ /etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']],
      // …by a relative path too (a reviewer's rows): climbing back to /proc, or after a cd to /proc or /.
      ['cp ../../../../../../proc/self/environ /etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']], // stands-alone: not a path
      ['cd /proc/self && cp environ /etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']],
      // A program or a wrapper named by its path (a reviewer's rows): /bin/cp is cp, /usr/bin/sudo is sudo.
      ['/bin/cp "$1" /etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']],
      // An option's value after the destination is not the destination (GNU getopt permutes; a reviewer's rows).
      ['install "$1" /etc/cron.d/fix -m 644', 'reparse', ['/etc/cron.d/fix is read as code later']],
      ['echo "$1" > /tmp/a; cp /tmp/a /etc/cron.d/fix --suffix .bak', 'reparse', ['/etc/cron.d/fix is read as code later']],
      ['echo "$1" > /tmp/a; rsync -a /tmp/a /etc/cron.d/fix --backup-dir /root/old', 'reparse', ['/etc/cron.d/fix is read as code later']],
      // The folder of -t joined to its option, or of --target-directory=… (a reviewer's rows).
      ['cp --target-directory=/etc/cron.d "$1"', 'reparse', ['/etc/cron.d is read as code later']],
      ['echo "$1" > /tmp/a; mv -t/etc/cron.d /tmp/a', 'reparse', ['/etc/cron.d is read as code later']],
      ['install --target=/etc/profile.d -m 644 "$1"', 'reparse', ['/etc/profile.d is read as code later']],
      // A folder (or a glob of its files) holding a file the command wrote, copied whole (a reviewer's rows).
      ['mkdir -p /tmp/fix; echo "$1" > /tmp/fix/job; cp -r /tmp/fix/. /etc/cron.d/', 'reparse', ['/etc/cron.d/ is read as code later']],
      ['echo "$1" > /tmp/fix/job; cp /tmp/fix/* /etc/cron.d/', 'reparse', ['/etc/cron.d/ is read as code later']],
      ['echo "$1" > /tmp/fix/job; cp -rT /tmp/fix /etc/cron.d', 'reparse', ['/etc/cron.d is read as code later']],
      ['echo "$1" > /tmp/fix/job; rsync -a /tmp/fix/ /etc/cron.d/', 'reparse', ['/etc/cron.d/ is read as code later']],
      // …a glob before the last name, and a relative folder, matched by name as a relative path is (second review's rows).
      ['echo "$1" > /tmp/fix/job; cp /tmp/*/job /etc/cron.d/', 'reparse', ['/etc/cron.d/ is read as code later']],
      ['echo "$1" > /tmp/fix/job; cd /tmp && cp -r fix /etc/cron.d', 'reparse', ['/etc/cron.d is read as code later']],
      ['echo "$1" > fix/job; cp -r /tmp/fix/. /etc/cron.d', 'reparse', ['/etc/cron.d is read as code later']],
      ['echo "$1" > /tmp/fix/job; cd /tmp/fix && cp -r . /etc/cron.d', 'reparse', ['/etc/cron.d is read as code later']],
      // dd's if= under /proc, as cp's source (second review's row: environ holds the SELFHEAL_PARAM_* values).
      ['dd if=/proc/self/environ of=/etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']],
      ['echo "$1" | /usr/bin/tee /etc/logrotate.d/app', 'reparse', ['/etc/logrotate.d/app is read as code later']],
      ['echo "$1" > /tmp/a; /usr/bin/sudo /bin/cp /tmp/a /etc/cron.d/fix', 'reparse', ['/etc/cron.d/fix is read as code later']],
      ['echo "$1" > /tmp/a; cp /tmp/a "/etc/ssh/sshd_config.bak.$(date +%F)"', 'reparse', ['"/etc/ssh/sshd_config.bak.$(date +%F)" is read as code later']],
      ['echo "$1" > "/etc/ssh/sshd_config.bak.$(date +%F)"', 'reparse', ['"/etc/ssh/sshd_config.bak.$(date +%F)" is read as code later']],
      ['echo "$1" > /usr/lib/python3/dist-packages/fix.pth', 'reparse', ['/usr/lib/python3/dist-packages/fix.pth is read as code later']],
      ['echo "$1" > /usr/local/lib/python3.11/site-packages/sitecustomize.py', 'reparse', ['/usr/local/lib/python3.11/site-packages/sitecustomize.py is…']],
      ['echo "$1" >> "$HOME/.local/lib/python3.12/site-packages/usercustomize.py"', 'reparse', ['usercustomize.py is read as code later']],
      ['cd /usr/lib/python3/dist-packages && echo "$1" > fix.pth', 'reparse', ['fix.pth is read as code later']],
      ['dd of=/etc/ld.so.preload <<< "$1"', 'reparse', ['/etc/ld.so.preload is read as code later']],
      ['echo "$1" > /etc//logrotate.d/app', 'reparse', ['/etc//logrotate.d/app is read as code later']],
      // A file named by data in a folder whose every file is read as code.
      ['echo "$1" > "/etc/cron.d/$2"', 'reparse', ['"/etc/cron.d/$2" is read as code later']],
      ['echo "$1" | tee "/etc/logrotate.d/fix-$2"', 'reparse', ['"/etc/logrotate.d/fix-$2" is read as code later']],
      ['echo "$1" > "/usr/lib/python3/dist-packages/$2"', 'reparse', ['"/usr/lib/python3/dist-packages/$2" is read as code later']],
      ['echo "$1" > "/etc/$2"', 'reparse', ['"/etc/$2" is read as code later']],
      // The literal text before and after the data counts: it may still be a code file's name.
      ['echo "$1" > "/etc/cron.d$2"', 'reparse', ['"/etc/cron.d$2" is read as code later']],
      ['echo "$1" > "/etc/cr$2"', 'reparse', ['"/etc/cr$2" is read as code later']],
      ['echo "$1" > "/etc/systemd/system/$2.conf"', 'reparse', ['"/etc/systemd/system/$2.conf" is read as code later']],
      ['echo "$1" > "/root/${2}rc"', 'reparse', ['"/root/${2}rc" is read as code later']],
      ['echo "$1" > "/$2.log"', 'reparse', ['"/$2.log" is read as code later']],
      // sed's w after an address with a custom delimiter.
      ["echo \"$1\" | sed -n '\\,x,w /etc/cron.d/x'", 'reparse', ['/etc/cron.d/x is read as code later']],
      ["echo \"$1\" | sed -n '/a/,\\|b|Iw /etc/cron.d/x'", 'reparse', ['/etc/cron.d/x is read as code later']],
      ['echo "$1" | tee "/usr/lib/$2"', 'reparse', ['"/usr/lib/$2" is read as code later']],
      ['echo "$1" > "/home/app/$2"', 'reparse', ['"/home/app/$2" is read as code later']],
      // sed -i writes what its script reads into the file (`r`, `R`), and sed's `w` writes what it reads anywhere.
      ['sed -i \'$r /dev/stdin\' /etc/logrotate.d/app <<< "$1"', 'reparse', ['/etc/logrotate.d/app is read as code later']],
      ['echo "$1" > /tmp/d; sed -i \'/^}/r /tmp/d\' /etc/logrotate.d/app', 'reparse', ['/etc/logrotate.d/app is read as code later']],
      ['echo "$1" | sed -n \'w /etc/cron.d/fix\'', 'reparse', ['/etc/cron.d/fix is read as code later']],
      ['echo "$1" | sed \'s/^/x /w /etc/profile.d/fix.sh\'', 'reparse', ['/etc/profile.d/fix.sh is read as code later']],
      // gawk's -i/--include and @include read awk source, -l/--load and @load a shared library.
      ['echo "$1" > /tmp/x.awk; gawk -i /tmp/x.awk \'BEGIN { exit }\'', 'reparse', ['gawk -i /tmp/x.awk runs a file the command writes']],
      ['echo "$1" > x.awk; gawk --include x \'{ print }\' f', 'reparse', ['gawk -i x.awk runs a file the command writes']],
      ['gawk -i /dev/stdin \'BEGIN { exit }\' <<< "$1"', 'reparse', ['data on the stdin of gawk -i']],
      ['gawk -i "$1" \'BEGIN { exit }\'', 'reparse', ['gawk -i "$1"']],
      ['echo "$1" > /tmp/x.awk; gawk \'@include "/tmp/x.awk"\nBEGIN { exit }\'', 'reparse', ['gawk @include /tmp/x.awk runs a file the command writes']],
      ['gawk \'@include "/dev/stdin"\' <<< "$1"', 'reparse', ['data on the stdin of gawk @include']],
      ['echo "$1" > /tmp/x.so; gawk -l /tmp/x.so \'BEGIN { exit }\'', 'reparse', ['gawk -l /tmp/x.so runs a file the command writes']],
      ['echo "$1" > /tmp/x.so; gawk \'@load "/tmp/x.so"\'', 'reparse', ['gawk @load /tmp/x.so runs a file the command writes']],
      // The program after -i's value is the program: it was read as -i's value.
      ['echo "$1" | gawk -i /usr/share/awk/join.awk \'{ system($0) }\'', 'reparse', ["gawk '{ system($0) }'"]],
      // bash 5.3's source -p PATH: the file is looked up in PATH's folders.
      ['echo "$1" > /tmp/f; source -p /tmp f', 'reparse', ['source /tmp/f runs a file the command writes']],
      ['echo "$1" > /tmp/f; . -p /opt:/tmp -- f', 'reparse', ['. /tmp/f runs a file the command writes']],
      ['source -p /dev/fd 3 3<<< "$1"', 'reparse', ['source /dev/fd/3 reads a descriptor the command feeds']],
      ['source -p "$1" fix.sh', 'reparse', ['source -p "$1" fix.sh']],
      // find's {} inside code is the found file's name read as code (a name may come from data: here or any other program).
      ['touch "/tmp/q/$1"; find /tmp/q -type f -exec sh -c \'gzip {}\' \\;', 'reparse', ["find -exec sh -c 'gzip {}' (a found name read as code)"]],
      ['find /tmp/q -type f -execdir bash -c {} +', 'reparse', ['find -execdir bash -c {} (a found name read as code)']],
      ['find /tmp/q -exec python3 -c \'print("{}")\' \\;', 'reparse', ['find -exec python3 -c \'print("{}")\' (a found name read as c…']],
      ['find /tmp/q -exec awk \'/{}/\' /var/log/syslog \\;', 'reparse', ["find -exec awk '/{}/' (a found name read as code)"]],
      ['find /tmp/q -ok sed -i \'s|x|{}|\' /etc/fix.conf \\;', 'reparse', ["find -ok sed -i 's|x|{}|' (a found name read as code)"]],
      // The command find runs is read as any other, with a data word for {}: a program, a script or an option word.
      ['find /tmp -type f -exec sh -c -x {} \\;', 'reparse', ['find -exec sh -c -x {} (a found name read as code)']],
      ['find /tmp -type f -exec sh -c -- {} \\;', 'reparse', ['find -exec sh -c -- {} (a found name read as code)']],
      ['find /tmp -type f -exec sed -n {} /etc/hostname \\;', 'reparse', ['find -exec sed -n {} (a found name read as code)']],
      ['find /tmp -type f -exec gawk -F: {} /etc/passwd \\;', 'reparse', ['find -exec gawk -F: {} (a found name read as code)']],
      ['find /tmp -type f -exec awk -v x=1 {} \\;', 'reparse', ['find -exec awk -v x=1 {} (a found name read as code)']],
      ['find /var/log -exec scp {} "backup:/srv/{}" \\;', 'reparse', ['find -exec scp {} "backup:/srv/{}" (a found name read as co…']],
      ['find /var/log -exec gzip {} + -exec sh -c {} \\;', 'reparse', ['find -exec sh -c {} (a found name read as code)']],
      // An interpreter's option the check does not know may take the next word: code options after it are still read.
      ['node --some-new-flag x -e "$1"', 'reparse', ['node -e "$1"']],
      ['python3 -Z x -c "$1"', 'reparse', ['python3 -c "$1"']],
      ['perl -Q x -e "$1"', 'reparse', ['perl -e "$1"']],
      ['ruby --new-flag x -e "$1"', 'reparse', ['ruby -e "$1"']],
      ['php --new-flag x -r "$1"', 'reparse', ['php -r "$1"']],
      ['lua -Z x -e "$1"', 'reparse', ['lua -e "$1"']],
      ['node --some-new-flag "$1" /opt/app.js', 'reparse', ['node --some-new-flag "$1"']],
      ['node --some-new-flag /opt/app.js "$1"', 'reparse', ['node "$1"']],
      ['python3 -m "$1"', 'reparse', ['python3 -m "$1"']],
      ['php --run "$1"', 'reparse', ['php --run "$1"']],
      // node has no option clusters: -pe is --print --eval, the next word its program. perl's -d (-dt, up to a : or =)
      // and -C (digits or letters), ruby's -W (a level), -K (one letter), -0 (octal) go on reading the cluster.
      ['node -pe "$1"', 'reparse', ['node -pe "$1"']],
      ['nodejs -pe "$1"', 'reparse', ['nodejs -pe "$1"']],
      ["perl -de '1;' -e \"$1\"", 'reparse', ['perl -e "$1"']],
      ["perl -dte '1;' -e \"$1\"", 'reparse', ['perl -e "$1"']],
      ["perl -CSe '1;' -e \"$1\"", 'reparse', ['perl -e "$1"']],
      ['ruby -We 1 -e "$1"', 'reparse', ['ruby -e "$1"']],
      ['ruby -Kue 1 -e "$1"', 'reparse', ['ruby -e "$1"']],
      ['ruby -0e 1 -e "$1"', 'reparse', ['ruby -e "$1"']],
      // An awk option word data makes may be any option (-f/dev/stdin, --exec=…).
      ["awk -\"$2\" '{print}'", 'reparse', ['awk -"$2"']],
      ["gawk --\"$2\" '{print}'", 'reparse', ['gawk --"$2"']],
      // node's --experimental-* options that take a value, expect's -f/-b (the script's file; options read on after
      // it), gawk's -W name=value and mawk's -W exec file, an interpreter's name with its version.
      ['node --experimental-sea-config x -e "$1"', 'reparse', ['node -e "$1"']],
      ['expect -f /opt/x.exp -c "$1"', 'reparse', ['expect -c "$1"']],
      ['echo "$1" > /tmp/x.exp; expect -f /tmp/x.exp', 'reparse', ['expect /tmp/x.exp runs a file the command writes']],
      ["gawk -W include=/dev/stdin 'BEGIN{}' <<< \"$1\"", 'reparse', ['data on the stdin of gawk -W include']],
      ['mawk -W exec /dev/stdin <<< "$1"', 'reparse', ['data on the stdin of mawk -E']],
      ["gawk -W \"$1\" 'BEGIN{}'", 'reparse', ['gawk -W "$1"']],
      // gawk's clusters (a second reviewer): -d, -D, -L, -o, -p take the rest of their word as an optional value,
      // a -W or -f inside a cluster takes its value as at the start of one, -Z (--locale) takes one.
      ['gawk -bf "$1" /var/log/syslog', 'reparse', ['gawk -f "$1"']],
      ['awk -Pf "$1" x', 'reparse', ['awk -f "$1"']],
      ['gawk -dv "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -Lv "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -pF "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -df -e "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -de -e "$1"', 'reparse', ['gawk "$1"']],
      ['awk -Lfatal "$1"', 'reparse', ['awk "$1"']],
      ['awk -Sdv "$1" /var/log/syslog', 'reparse', ['awk "$1"']],
      ['gawk -Wi x "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -Z x "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -PZ 1 "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -bW x "$1"', 'reparse', ['gawk "$1"']],
      ['gawk -Lfatal \'{ print $1 }\' /var/log/syslog', 'reparse', []],
      ['gawk -bf /opt/prog.awk /var/log/syslog', 'reparse', []],
      ['gawk -d/tmp/vars \'{ print }\' /var/log/syslog', 'reparse', []],
      ['php8.2 -r "$1"', 'reparse', ['php8.2 -r "$1"']],
      ['lua5.4 -e "$1"', 'reparse', ['lua5.4 -e "$1"']],
      ['perl5.36 -e "$1"', 'reparse', ['perl5.36 -e "$1"']],
    ];
    findingRows(refused);

    // Everyday commands near these roads: still accepted.
    const accepted = [
      'logrotate -f /etc/logrotate.conf; restart "$1"',
      "find /var/log -name '*.gz' -mtime +7 -delete; restart \"$1\"",
      'find /var/log -name "$1" -exec sh -c \'gzip "$1"\' _ {} \\;',
      "find /var/log -name '*.log' -exec sh -c 'gzip -- \"$@\"' _ {} +",
      'find /var/log -name "$1" -exec gzip {} + -exec rsync -a {} /backup/ \\;',
      'find /tmp -type f -exec sed -e p {} \\;',
      'find /opt/fix -name "*.sh" -exec sh {} \\;',
      'find /opt/fix -name "*.py" -exec python3 {} "$1" \\;',
      'find /opt/fix -perm -u+x -type f -exec {} "$1" \\;',
      'find /var/log -name "*.gz" -exec scp {} backup:/srv/logs/ \\;',
      "sed -i 's/weekly/daily/' /etc/logrotate.d/nginx; restart \"$1\"",
      'cp /opt/fix/nginx.logrotate /etc/logrotate.d/nginx; restart "$1"',
      'udevadm control --reload-rules; udevadm trigger; restart "$1"',
      'echo "$1" > /var/log/fix.log; modprobe -r e1000e; modprobe e1000e',
      "cat > /etc/modprobe.d/fix.conf <<'EOF'\noptions e1000e InterruptThrottleRate=3000\nEOF\nrestart \"$1\"",
      'restart "$1" > "/var/log/fix/$1.log"',
      'restart "$1" > "/var/lib/fix/$1.state"; echo "$1" > "/srv/app/hosts/$2"',
      // A name the literal text rules out: no code file's name starts (or ends) so.
      'cp /etc/fstab "/etc/fstab.bak.$(date +%F)"',
      // A copy of a literal file holds that file, whatever its new name holds: only a copy of data is data written.
      'cp /etc/crontab "/etc/crontab.bak.$(date +%F)"',
      'cp /etc/ssh/sshd_config "/etc/ssh/sshd_config.bak.$(date +%F)"; restart "$1"',
      'cp -a /etc/cron.d/app "/root/cron.d-app.$(date +%F)"',
      'install -m 644 /opt/fix/app.cron "/etc/cron.d/app.bak.$(date +%F)" -o root',
      'echo "$1" > /var/log/fix/run.log; cp -a /var/log/fix/. "/backup/fix-$(date +%F)/"',
      'mv /etc/resolv.conf "/etc/resolv.conf.bak-$(date +%F)"',
      'iptables-save > "/root/iptables-$(date +%F).rules"',
      'journalctl -u "$1" > "/root/$1.log"',
      "echo \"$1\" | sed -n '\\,x,Ip; \\,y, w /tmp/fix.out'",
      'echo "$1" > "/etc/systemd/system/$2.log"; echo "$1" > "/usr/lib/python3/dist-packages/$2.txt"',
      "gawk -i inplace '{ sub(/a/, \"b\") } 1' /etc/fix.conf; restart \"$1\"",
      "gawk '@include \"join\"\nBEGIN { print join(a, 1, 2) }' \"$1\"",
      'source -p /opt/fix/lib common.sh; restart "$1"',
      'node --enable-source-maps /opt/app.js "$1"',
      'node --max-old-space-size=4096 /opt/app.js "$1"',
      'node --some-new-flag=1 /opt/app.js "$1"',
      'node --max-old-space-size 4096 /opt/app.js restart; restart "$1"',
      'python3 -u -B /opt/fix.py "$1"',
      'python3 -m json.tool /tmp/x.json; restart "$1"',
      "perl -0777 -pi -e 's/a/b/' /etc/fix.conf \"$1\"",
      'ruby -W0 /opt/fix.rb "$1"',
      'node -r=dotenv/config /opt/app.js "$1"',
      'perl -d:Trace /opt/fix.pl "$1"',
      'perl -CSD /opt/fix.pl "$1"',
      'ruby -W2 /opt/fix.rb "$1"',
      'node --experimental-vm-modules /opt/app.mjs "$1"',
      "gawk -W lint '{ print }' \"$1\"",
      'php8.2 /opt/fix.php "$1"',
      "awk -v x=\"$1\" -vy=\"$2\" -F\"$3\" '{ print x, y }' /etc/fix.conf",
    ];
    acceptedRows(accepted);
  });

  // Double quotes keep "$1" one word, but a word that starts with data starts with whatever the data starts with:
  // a value "-e…", "--to-command=…" is read as an option where the program still reads options (before `--`, and
  // before the first operand, or anywhere for GNU programs that permute). Each refused row was accepted before,
  // and each was tried on this machine (gawk 5.2.1, GNU tar 1.34, GNU sed 4.9, sort, git 2.39, curl 7.88,
  // wget 1.21, zip 3.0, psql 15, perl 5.36, node 22, ruby 3.1, php 8.2, lua 5.4, expect 5.45, GNU find 4.9).
  describe('data in an option position (a value starting with -)', function () {
    const refused: [string, string, string[]][] = [
      // `-eBEGIN{system("id")}`: gawk reads options up to its first operand, and with -f or -e there is no program operand.
      ['awk -f /opt/fix/p.awk "$1"', 'option', ['awk "$1"']],
      ["gawk -e '{print $1}' \"$1\"", 'option', ['gawk "$1"']],
      ['mawk -F: -f /opt/fix/p.awk "$SELFHEAL_PARAM_LOG"', 'option', ['mawk "$SELFHEAL_PARAM_LOG"']],
      // GNU tar permutes: `--to-command=id`, `--checkpoint-action=exec=id`, `-I id` anywhere before `--`; old style too.
      ['tar -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      ['tar xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      ['tar -czf /backup/app.tgz /srv/app "$SELFHEAL_PARAM_EXTRA"', 'option', ['tar "$SELFHEAL_PARAM_EXTRA"']],
      ['sudo -u app tar -C /srv -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      ['/usr/bin/env tar -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      ['/usr/bin/sudo -u app /bin/tar -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      // Data completing an option word: `-x"$1"` with `I/tmp/x` is `-xI/tmp/x` (a compress program run).
      ['tar -x"$1" -f /backup/app.tar', 'option', ['tar -x"$1"']],
      ['git log --"$1"', 'option', ['git --"$1"']],
      // GNU sed permutes: `-e1e id` adds a script that runs id (the first operand is then a file).
      ['sed -n p "$1"', 'option', ['sed "$1"']],
      ["sed -i 's/a/b/' \"$1\"", 'option', ['sed "$1"']],
      // Accepted before as ordinary scripts (now with `--` among the accepted rows above).
      ['awk -f /opt/fix.awk "$1"', 'option', ['awk "$1"']],
      ['sed -f /opt/fix.sed "$1"', 'option', ['sed "$1"']],
      ["sed -e 's/eth0/ens3/g' -e '/^#/d' \"$1\"", 'option', ['sed "$1"']],
      // sort: `-o FILE` writes, `--compress-program=PROG` runs PROG.
      ['sort -u "$1"', 'option', ['sort "$1"']],
      // git: `--output=/etc/cron.d/x` (log, diff, show) writes, grep's `--open-files-in-pager=CMD` runs, `-ccore.pager=…` before the subcommand.
      ['git log "$1"', 'option', ['git "$1"']],
      ['git -C /srv/app log --oneline "$1"', 'option', ['git "$1"']],
      ['git grep "$1"', 'option', ['git "$1"']],
      ['git "$1" status', 'option', ['git "$1"']],
      ['sudo -u app git pull origin "$1"', 'option', ['git "$1"']],
      // curl: `-o FILE`, `-K FILE` (more options read from a file), `--libcurl FILE`; wget: `-O FILE`, `-e CMD`, `--use-askpass=PROG`.
      ['curl -fsS "$1"', 'option', ['curl "$1"']],
      ['wget -q "$1"', 'option', ['wget "$1"']],
      // zip: `-TT CMD` runs CMD when it tests the archive (`zip -T`); psql: `-c '\! id'` runs a shell command.
      ['zip -T /backup/x.zip /srv/app/app.conf "$1"', 'option', ['zip "$1"']],
      ["psql -d app -c 'select 1' \"$1\"", 'option', ['psql "$1"']],
      // GNU find reads a start path starting with - as its expression (`-delete` deleted the working folder), after `--` too.
      ["find \"$1\" -name '*.tmp' -delete", 'option', ['find "$1"']],
      ["find -- \"$1\" -name '*.tmp' -delete", 'option', ['find "$1"']],
      // …and in its expression, data that is no primary's value is a primary or an operator (`-o`: a reviewer's row).
      ["find /var/log -name '*.gz' \"$1\" -delete", 'option', ['find "$1"']],
      ['find /srv/app -maxdepth 1 -newer /tmp/stamp "$SELFHEAL_PARAM_TEST" -print', 'option', ['find "$SELFHEAL_PARAM_TEST"']],
      // Interpreters that read options after their code or script option: perl, ruby, node, php (-r, -f), lua, expect (-c, -f).
      ["perl -e 'print \"@ARGV\"' \"$1\"", 'option', ['perl "$1"']],
      ["perl -lne 'print if /x/' \"$1\"", 'option', ['perl "$1"']],
      ["ruby -e 'p ARGV' \"$1\"", 'option', ['ruby "$1"']],
      ['node -e "console.log(1)" "$1"', 'option', ['node "$1"']],
      ["php -r 'echo 1;' \"$1\"", 'option', ['php "$1"']],
      ['php -n -f /opt/fix.php "$1"', 'option', ['php "$1"']],
      ["lua5.4 -e 'x = 1' \"$1\"", 'option', ['lua5.4 "$1"']],
      ['expect -f /opt/fix.exp "$1"', 'option', ['expect "$1"']],
      // lua reads the word after `--` as a script to run, -e or not.
      ["lua5.4 -e 'x = 1' -- \"$1\"", 'reparse', ['lua5.4 "$1"']],
      // Data as the value of an option that runs it: a command, a program, code.
      ['tar -xf /backup/app.tar --to-command="$1"', 'reparse', ['tar --to-command "$1"']],
      ['tar -I"$SELFHEAL_PARAM_Z" -xf /backup/app.tar', 'reparse', ['tar -I "$SELFHEAL_PARAM_Z"']],
      ['sort -S 1M --compress-program "$1" /var/log/big.log', 'reparse', ['sort --compress-program "$1"']],
      ['git -c "core.pager=$1" log', 'reparse', ['git -c "core.pager=$1"']],
      ['wget -q -e "$1" http://localhost/', 'reparse', ['wget -e "$1"']],
      ["psql -d app -c \"select 1 from hosts where name = '$1'\"", 'reparse', ["psql -c \"select 1 from hosts where name = '$1'\""]],
      // The option's name inside the quotes with its data (a reviewer's rows): `"--to-command=$1"` is the same word.
      ['tar -xf /backup/app.tar "--to-command=$1"', 'reparse', ['tar --to-command "--to-command=$1"']],
      ['tar "-I$SELFHEAL_PARAM_Z" -xf /backup/app.tar', 'reparse', ['tar -I "-I$SELFHEAL_PARAM_Z"']],
      ['sort "--compress-program=$1" /var/log/big.log', 'reparse', ['sort --compress-program "--compress-program=$1"']],
      ['wget -q "--execute=$1" http://localhost/', 'reparse', ['wget --execute "--execute=$1"']],
      ['psql -d app "--command=$1"', 'reparse', ['psql --command "--command=$1"']],
      ['git "-ccore.pager=$1" log', 'reparse', ['git -c "-ccore.pager=$1"']],
      // git subcommands' options that run a command (a reviewer's rows, each tried with `touch PWN`), `=` spelled too.
      ['git -C /srv/app grep --open-files-in-pager="$1" TODO', 'reparse', ['git --open-files-in-pager "$1"']],
      ['git -C /srv/app fetch --upload-pack="$1" origin', 'reparse', ['git --upload-pack "$1"']],
      ['git clone -q -c "core.sshCommand=$1" ssh://git.example.com/app /srv/app', 'reparse', ['git -c "core.sshCommand=$1"']],
      ['git -C /srv/app rebase --exec="$1" HEAD~1', 'reparse', ['git --exec "$1"']],
      ['git -C /srv/app push --receive-pack="$1" origin main', 'reparse', ['git --receive-pack "$1"']],
      // Before git config's key data may be an option, and the key itself (`git config "$1" x` with `--file=…`).
      ['git config "$1" x', 'option', ['git "$1"']],
      ['git config --get "$1"', 'option', ['git "$1"']],
      ['git config set "$1" x', 'option', ['git "$1"']],
      // …and after the key, data as the value of a key git runs as a command (or of a key data names) is code.
      ['git -C /srv/app config core.sshCommand "ssh -i /root/.ssh/$1"', 'reparse', ['git config core.sshCommand "ssh -i /root/.ssh/$1"']],
      ['git config --global alias.fix "!$1"', 'reparse', ['git config alias.fix "!$1"']],
      // pull.twohead and pull.octopus name the merge strategy `git pull` runs as the program git-merge-NAME.
      ['git config pull.twohead "$1"', 'reparse', ['git config pull.twohead "$1"']],
      ['git config --global pull.octopus "$1"', 'reparse', ['git config pull.octopus "$1"']],
      ['git config set core.pager "$SELFHEAL_PARAM_PAGER"', 'reparse', ['git config core.pager "$SELFHEAL_PARAM_PAGER"']],
      ['git config --global "credential.$1.helper" "$2"', 'reparse', ['git config "credential.$1.helper" "$2"']],
      // git subcommands that run a command given as an operand or a filter (second review's rows): submodule foreach
      // and bisect run hand a single word to a shell, filter-branch's filters are shell code; --attr-source (git 2.40)
      // takes the next word, which is no subcommand.
      ['git -C /srv/app submodule foreach "git checkout $1"', 'reparse', ['git submodule foreach "git checkout $1"']],
      ['git -C /srv/app submodule --quiet foreach --recursive "echo $1"', 'reparse', ['git submodule foreach "echo $1"']],
      ['git -C /srv/app bisect run "./check.sh $1"', 'reparse', ['git bisect run "./check.sh $1"']],
      ['git -C /srv/app filter-branch --tree-filter="rm -f $1" HEAD', 'reparse', ['git --tree-filter "rm -f $1"']],
      ['git --attr-source HEAD fetch --upload-pack="$1" origin', 'reparse', ['git --upload-pack "$1"']],
      // tar's old-style letters take their values in the words after, -I and -F too; --new-volume-script is -F;
      // zip's -TT/--unzip-command CMD is run by a shell when it tests the archive (a reviewer's rows, tried).
      ['tar xIf "$1" /backup/app.tar', 'reparse', ['tar -I "$1"']],
      ['tar -xf /backup/app.tar -M --new-volume-script="$1"', 'reparse', ['tar --new-volume-script "$1"']],
      ['zip -T --unzip-command="$1" /backup/x.zip /srv/app/app.conf', 'reparse', ['zip --unzip-command "$1"']],
      ['zip -T -TT "unzip -tqq $1" /backup/x.zip /srv/app/app.conf', 'reparse', ['zip -TT "unzip -tqq $1"']],
    ];
    findingRows(refused);

    it('the refusal says to put -- before the data, or to start the word with text of its own', function () {
      assert.match(commandDataProblem('tar -xf /backup/app.tar "$1"')!, /^the command puts data where a program reads its options \("tar \\"\$1\\""\): .*starting with - .*Put -- before the data for tar \(tar -xf x\.tar -- "\$1"\)/);
    });

    it('the refusal gives each program the fix that works for it (git, find, lua)', function () {
      // git: `--` starts paths, and in `git config` it is a value (`git config user.name -- "$1"` set the name to
      // `--`, git 2.39); 2.39's checkout and reset refuse --end-of-options, switch takes it.
      const git = commandDataProblem('git -C /srv/app checkout "$1"')!;
      assert.match(git, /for git, --end-of-options before the data \(git log --end-of-options "\$1"; git switch --end-of-options "\$1"/);
      assert.doesNotMatch(git, /Put -- before/);
      // find: `"./$1"` makes an absolute path relative (`find "./$1"` with /var/log looks in ./var/log).
      const find = commandDataProblem("find \"$1\" -name '*.tmp' -delete")!;
      assert.match(find, /for find, a folder of your own before the data \("\/var\/log\/\$1", or "\/\$\{1#\/\}" when the data is an absolute path\)/);
      assert.match(find, /"\.\/\$1" makes an absolute path relative/);
      // lua runs the word after `--` as its script: a script file first, the data an argument after it.
      const lua = commandDataProblem("lua -e 'print(arg[1])' \"$1\"")!;
      assert.match(lua, /for lua, a script file before the data \(lua -e '…' \/dev\/null "\$1"\)/);
      assert.doesNotMatch(lua, /Put -- before/);
      // A tag or a commit: switch --detach (`git switch v1` wants a branch).
      assert.match(git, /git switch --detach --end-of-options "\$1" for a tag or a commit/);
      // Data after an option the lists take for a flag is that option's value: `--end-of-options` there would be
      // the value (`git log --since --end-of-options "$1"` printed nothing, git 2.39), joining them is the fix.
      assert.match(commandDataProblem('git -C /srv/app diff --diff-filter "$1" --stat')!, /when the data is the value of the option before it, join the two \(--since="\$1"\)/);
      // psql -c does not read psql's variables (`psql -v u=x -c "select :'u'"`: syntax error at or near ":", psql 15):
      // the data goes in a variable, the SQL on stdin, where :'u' is the value quoted as a literal.
      const psql = commandDataProblem("psql -d app -c \"select 1 from hosts where name = '$1'\"")!;
      assert.match(psql, /for psql, the data as a variable and the SQL on stdin, where psql quotes it \(psql -v host="\$1" <<'SQL' … where name = :'host' … SQL; -c reads no variables\)/);
      assert.deepEqual(shellDataFindings("psql -d app -v host=\"$1\" -At <<'SQL'\nselect 1 from hosts where name = :'host';\nSQL"), []);
      // The same fix for SQL piped on its stdin.
      assert.match(commandDataProblem("echo \"select 1 from hosts where name = '$1'\" | psql -d app")!, /for psql, the data as a variable and the SQL on stdin, where psql quotes it/);
      // Several programs: each its own fix.
      assert.match(commandDataProblem('sort "$1" > /tmp/x; git log "$2"')!, /Put -- before the data for sort \(sort … -- "\$1"\).*for git, --end-of-options/);
      // Each fix given passes the check.
      for (const fixed of [
        'git -C /srv/app log --end-of-options "$1"',
        'git -C /srv/app switch --end-of-options "$1"',
        'git -C /srv/app switch --detach --end-of-options "$1"',
        'git -C /srv/app log --since="$1" --oneline',
        'git -C /srv/app reset --hard "origin/$1"',
        "find \"/var/log/$1\" -name '*.tmp' -delete",
        "find \"/${1#/}\" -name '*.tmp' -delete",
        "lua -e 'print(arg[1])' /dev/null \"$1\"",
        'sort -- "$1"',
      ]) {
        assert.deepEqual(shellDataFindings(fixed), [], fixed);
      }
    });

    // Everyday spellings: data after `--`, data that is an option's value, a word that starts with text of its own,
    // data after the first operand of a program that stops there, and programs whose options run nothing.
    const accepted = [
      'systemctl restart "$1"',
      'systemctl restart -- "$1"',
      'echo "$1"',
      "printf '%s\\n' \"$1\"",
      'logger -- "$1"',
      'logger -t fix "$1"',
      'journalctl -u "$1" --since "$2"',
      'awk -f /opt/fix/p.awk -- "$1"',
      "gawk -e '{print $1}' -- \"$1\"",
      "awk -F: '{print $1}' \"$1\"",
      "awk -v host=\"$1\" '$1 == host' /etc/hosts",
      'tar -xf /backup/app.tar -- "$1"',
      'tar -czf "/backup/$1.tgz" /srv/app',
      'tar -xf /backup/app.tar "./$1"',
      'tar -f "$1" -x',
      'tar -xf/backup/"$1".tar',
      'git log -- "$1"',
      'git -C /srv/app commit -qm "$1"',
      'git grep -e "$1"',
      'git checkout -b "fix-$1"',
      'git -C /srv/app switch -c "fix-$1"',
      'git -C /srv/app log --oneline --end-of-options "$1"',
      'git -C /srv/app rev-parse --verify --end-of-options "$1"',
      // git config reads options up to the key only (its parse stops at the first operand, 2.46's `set` too):
      // `git config user.email "--file=/tmp/x"` sets the address to that text (tried, git 2.39).
      'git config --global user.name "$1"',
      'git -C /srv/app config user.email "$1"',
      'git config set --global user.name "$1"',
      'sed -n p -- "$1"',
      "sed -i 's/a/b/' \"/etc/app/$1.conf\"",
      'sort -u -- "$1"',
      'curl -fsS -- "$1"',
      'curl -fsS "http://localhost:8080/health/$1"',
      'curl -fsS -H "$1" -d "$2" --data-urlencode "host=$3" http://localhost/fix',
      'wget -q -O /tmp/fix.out -- "$1"',
      'zip -q /backup/x.zip -- "$1"',
      "psql -d app -v host=\"$1\" -c 'select 1'",
      "find \"./$1\" -name '*.tmp' -delete",
      'find /var/log -name "$1" -delete',
      'find /var/log -name "$1" -mtime +"$2" -size -"$3"k -delete',
      'find /var/log -type f -newer "/tmp/$1" -printf "%p $2\\n" -exec gzip -- {} +',
      'find /srv/app -user "$1" -fprintf /tmp/owned "%p\\n" -perm "$2"',
      "perl -e 'print \"@ARGV\"' -- \"$1\"",
      "perl -lne 'print if /x/' /var/log/syslog \"$1\"",
      'node -e "console.log(1)" -- "$1"',
      'php -n -f /opt/fix.php -- "$1"',
      'expect -f /opt/fix.exp -- "$1"',
      "python3 -c 'import sys; print(sys.argv)' \"$1\"",
      'node /opt/app.js "$1"',
    ];
    acceptedRows(accepted);
  });

  // Gaps in the table above: each refused row was accepted before it (GNU tar 1.34, coreutils 9.1, git 2.39).
  describe('data in an option position: what xargs reads, other names, more wrappers and options, copies', function () {
    findingRows([
      // xargs makes what it reads its command's last arguments (split at blanks), or the words holding -I's string.
      ['echo "$1" | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ["printf '%s\\n' \"$1\" | xargs -r sed -n p", 'option', ['sed (what xargs reads)']],
      ['xargs -n1 git -C /srv/app log <<< "$1"', 'option', ['git (what xargs reads)']],
      ['echo "$1" | xargs sudo -u app tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['echo "$1" | xargs -I{} cp {} /srv/app/', 'option', ['cp {}']],
      ['echo "$1" | xargs -0 -i find {} -delete', 'option', ['find {}']],
      ['echo "$1" | xargs -I% tar -xf /backup/app.tar --to-command=%', 'reparse', ['tar --to-command %']],
      // xargs reading stdin by name, and a wrapper running what xargs reads (`sudo sh -c id` from a value `sh -c id`).
      ['echo "$1" | xargs -a /dev/stdin tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['echo "$1" | xargs -r sudo -u app', 'reparse', ['(what xargs reads) (a command named by what xargs reads)']],
      ['echo "$1" | xargs -I{} timeout 5 {}', 'reparse', ['{} (a command named by what xargs reads)']],
      ['echo "$1" | xargs -I{} systemd-run -p {} /opt/fix/restart.sh', 'reparse', ['systemd-run -p {}']],
      // The same programs under other names.
      ['gtar -xf /backup/app.tar "$1"', 'option', ['gtar "$1"']],
      ['/usr/local/bin/gtar -xf /backup/app.tar --to-command="$1"', 'reparse', ['gtar --to-command "$1"']],
      ['bsdtar -xf /backup/app.tar "$1"', 'option', ['bsdtar "$1"']],
      ['bsdtar -xf /backup/app.tar --use-compress-program="$1"', 'reparse', ['bsdtar --use-compress-program "$1"']],
      ['gsed -n p "$1"', 'option', ['gsed "$1"']],
      ["echo \"$1\" | gsed 's/^/restart /e'", 'reparse', ["gsed 's/^/restart /e'"]],
      // Options whose value names code: git's --exec-path (the subcommand's program), clone's --template (its hooks),
      // curl's and wget's config file (more options), psql's -f (SQL, \! runs a command); a subcommand git does not ship
      // may be an alias of fetch.
      ['git --exec-path="$1" status', 'reparse', ['git --exec-path "$1"']],
      ['git --exec-path "$1" status', 'reparse', ['git --exec-path "$1"']],
      ['git clone --template="$1" https://git.example.com/app /srv/app', 'reparse', ['git --template "$1"']],
      ['git -C /srv/app f --upload-pack="$1" origin', 'reparse', ['git f --upload-pack="$1" (an alias, maybe)']],
      ['curl -fsS -K "$1" http://localhost/', 'reparse', ['curl -K "$1"']],
      ['curl -fsS --config="$1" http://localhost/', 'reparse', ['curl --config "$1"']],
      ['wget -q --config="$1" http://localhost/', 'reparse', ['wget --config "$1"']],
      ['psql -d app -f "$1"', 'reparse', ['psql -f "$1"']],
      ['psql -d app --file="$1"', 'reparse', ['psql --file "$1"']],
      // The same files read from stdin, or written by the command: options or code data chose.
      ['echo "$1" | curl -fsS -K - http://localhost/', 'reparse', ['data on the stdin of curl -K']],
      ['wget -q --config=/dev/stdin http://localhost/ <<< "$1"', 'reparse', ['data on the stdin of wget --config']],
      ['echo "$1" > /tmp/fix.sql; psql -d app -f /tmp/fix.sql', 'reparse', ['psql -f /tmp/fix.sql runs a file the command writes']],
      // git's revision walk takes its value options whole: `--sin` and `-pn` are unrecognized, after "$1" was read as an
      // option (`--output=/tmp/x` created /tmp/x, git 2.39).
      ['git -C /srv/app log --sin "$1"', 'option', ['git "$1"']],
      ['git -C /srv/app log -pn "$1"', 'option', ['git "$1"']],
      // systemd-run is a wrapper: its command is read (a unit property or an environment variable from data is code).
      ['systemd-run --wait -p User=app tar -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      ['systemd-run --scope "$1"', 'reparse', ['systemd-run "$1" (a command named by data)']],
      ['systemd-run -p "ExecStartPre=$1" /opt/fix/restart.sh', 'reparse', ['systemd-run -p "ExecStartPre=$1"']],
      ['systemd-run -E "LD_PRELOAD=$1" /opt/fix/restart.sh', 'reparse', ['systemd-run -E "LD_PRELOAD=$1"']],
      // The service manager puts a variable's value in the command's ${NAME} and $NAME (as in ExecStart=): in an sh -c
      // string that is code, the shell never sees the variable.
      ["systemd-run --wait -E \"HOST=$1\" sh -c 'restart \"${HOST}\"'", 'reparse', ['systemd-run -E "HOST=$1" (expanded in \'restart "${HOST}"\')']],
      ["HOST=\"$1\" systemd-run --wait -E HOST /opt/fix/restart.sh '$HOST'", 'reparse', ["systemd-run -E HOST (expanded in '$HOST')"]],
      // Wrappers that were already read, for the record.
      ['timeout 60 nice -n 10 ionice -c3 tar -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      ['chroot /srv/jail setsid stdbuf -oL flock /tmp/fix.lock tar -xf /backup/app.tar "$1"', 'option', ['tar "$1"']],
      // Past eight wrappers in a row the command went unread and passed.
      [`${'nice '.repeat(9)}tar -xf /backup/app.tar "$1"`, 'option', ['tar "$1"']],
      [`echo "$1" | xargs ${'nice '.repeat(9)}`, 'reparse', ['(what xargs reads) (a command named by what xargs reads)']],
      // cp, mv, ln, install: `-t DIR` makes every operand a source put in DIR, the last one too.
      ['cp "$1" /tmp/x', 'option', ['cp "$1"']],
      ['cp /opt/fix/job "$SELFHEAL_PARAM_DEST"', 'option', ['cp "$SELFHEAL_PARAM_DEST"']],
      ['mv "$1" /srv/app/old/', 'option', ['mv "$1"']],
      ['sudo ln -sfn "$1" /srv/app/current', 'option', ['ln "$1"']],
      ['install -s --strip-program="$1" /opt/fix/bin /usr/local/bin/fix', 'reparse', ['install --strip-program "$1"']],
    ]);

    it('the refusal says where the -- goes for what xargs reads', function () {
      assert.match(commandDataProblem('echo "$1" | xargs tar -xf /backup/app.tar')!, /for what xargs reads, -- as the last word of its command \(xargs tar -xf x\.tar --; -I\{\} with -- before the \{\}\)/);
    });

    acceptedRows([
      'echo "$1" | xargs tar -xf /backup/app.tar --',
      'echo "$1" | xargs -I{} tar -xf /backup/app.tar -- {}',
      'echo "$1" | xargs -I{} cp /srv/app/{}.conf /backup/',
      'echo "$1" | xargs -n1 systemctl restart',
      'echo "$1" | xargs -r sudo systemctl restart',
      'pgrep -f "$1" | xargs kill',
      'xargs -a /etc/fix/archives tar -xf /backup/app.tar <<< "$1"',
      'gtar -xf /backup/app.tar -- "$1"',
      'bsdtar -xf /backup/app.tar -C /srv/app "./$1"',
      'git -C /srv/app lg -- "$1"',
      'git -C /srv/app log --since "$1" --until "$2" --oneline',
      'git -C /srv/app log -n "$1" --author "$SELFHEAL_PARAM_AUTHOR"',
      'curl -fsS -K /etc/fix/curlrc -- "$1"',
      'psql -d app -f /opt/fix/fix.sql -v host="$1"',
      'systemd-run --wait -p User=app -E "HOST=$1" /opt/fix/restart.sh',
      "systemd-run --wait --expand-environment=no -E \"HOST=$1\" sh -c 'restart \"${HOST}\"'",
      "systemd-run --scope -E \"HOST=$1\" sh -c 'restart \"${HOST}\"'",
      "systemd-run --wait -E \"HOST=$1\" sh -c 'restart \"$HOST\"'",
      'systemd-run --unit "fix-$1" --wait tar -xf /backup/app.tar -- "$1"',
      'cp -- "$1" /tmp/x',
      'cp -a /srv/app/releases/current "/backup/$1"',
      'mv -- "$1" /srv/app/old/',
      'install -m 644 -t /srv/app/conf -- "$1"',
    ]);
  });

  describe('command names that are JavaScript property names, and more gaps closed', function () {
    findingRows([
      // A table's inherited entries are no program's: data after such a name is a command's operand like any other.
      ['sudo toString "$1"', 'reparse', []],
      // GNU xargs under its BSD-system name is xargs: what it reads is its command's arguments.
      ['echo "$1" | gxargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['echo "$1" | gxargs -r sh -c \'restart "$@"\' _', 'reparse', ['data on the stdin of gxargs -r sh -c \'restart "$@"\' _']],
      ['echo "$1" | gxargs -I{} timeout 5 {}', 'reparse', ['{} (a command named by what xargs reads)']],
      ['gxargs -a "$1" systemctl restart', 'reparse', []],
      // xargs -a FILE reads FILE instead of stdin: data when the command wrote it or data names it.
      ['echo "$1" > /tmp/fix.list; xargs -a /tmp/fix.list tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['echo "$1" > /tmp/fix.list; xargs --arg-file=/tmp/fix.list -I{} cp {} /srv/app/', 'option', ['cp {}']],
      ['xargs -a "$1" tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      // So does stdin redirected from such a file, or from a process substitution printing data.
      ['echo "$1" > /tmp/fix.list; xargs tar -xf /backup/app.tar < /tmp/fix.list', 'option', ['tar (what xargs reads)']],
      ['xargs tar -xf /backup/app.tar < <(echo "$1")', 'option', ['tar (what xargs reads)']],
      ['xargs -I{} cp {} /srv/app/ < "$1"', 'option', ['cp {}']],
      ['echo "$1" > /tmp/fix.list; xargs -a /tmp/fix.list sudo', 'reparse', ['(what xargs reads) (a command named by what xargs reads)']],
      // What a group, a subshell, a loop, an `if` or a `case` prints is data when a command inside carries data.
      ['{ echo "$1"; } | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['(echo "$1") | xargs -I{} cp {} /srv/app/', 'option', ['cp {}']],
      ['for h in "$@"; do echo "$h"; done | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['if true; then echo "$1"; fi | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['case x in x) echo "$1";; esac | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['{ { echo "$1"; }; echo ok; } | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['while read -r l; do echo "$l"; done <<< "$1" | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      // A subshell piped data reads it: its commands' stdin is the pipe.
      ['echo "$1" | (xargs tar -xf /backup/app.tar)', 'option', ['tar (what xargs reads)']],
      ['echo "$1" | (cd /srv/app && xargs tar -xf /backup/app.tar)', 'option', ['tar (what xargs reads)']],
      ['echo "$1" | ( (xargs tar -xf /backup/app.tar) )', 'option', ['tar (what xargs reads)']],
      // So do a group, an `if`, a loop or a `case` piped data: every command in its body may read it on stdin.
      ['echo "$1" | { cd /srv && psql -d app; }', 'reparse', ['data on the stdin of psql']],
      ['echo "$1" | { cd /srv && xargs -I{} {}; }', 'reparse', ['{} (a command named by what xargs reads)']],
      ['echo "$1" | if true; then xargs -I{} {}; fi', 'reparse', ['{} (a command named by what xargs reads)']],
      ['echo "$1" | { cd /srv; xargs tar -xf /backup/app.tar; }', 'option', ['tar (what xargs reads)']],
      ['echo "$1" | while true; do psql -d app; done', 'reparse', ['data on the stdin of psql']],
      // A compound that reads the data piped to it may print it on: its output is data.
      ['echo "$1" | (cat) | xargs -I{} {}', 'reparse', ['{} (a command named by what xargs reads)']],
      ['echo "$1" | { cat; } | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      // psql, mysql and mariadb read their SQL from stdin without -c/-f/-e: data there is SQL (`\\! id`, `system id`).
      ['echo "$1" | psql -d app', 'reparse', ['data on the stdin of psql']],
      ['psql -d app <<< "$1"', 'reparse', ['data on the stdin of psql']],
      ['psql -d app < "$1"', 'reparse', ['psql < "$1"']],
      ['echo "$1" > /tmp/fix.sql; psql -d app < /tmp/fix.sql', 'reparse', ['psql < /tmp/fix.sql runs a file the command writes']],
      // A written file's content piped on is data; SQL given in -c/-e may include stdin or a written file.
      ['echo "$1" > /tmp/q.sql; cat /tmp/q.sql | psql -d app', 'reparse', ['data on the stdin of psql']],
      ["psql -c '\\i /dev/stdin' <<< \"$1\"", 'reparse', ['data on the stdin of psql -c \\i']],
      ["echo \"$1\" | psql -d app -c '\\include /dev/fd/0'", 'reparse', ['data on the stdin of psql -c \\include']],
      ["mysql -e 'source /dev/stdin' <<< \"$1\"", 'reparse', ['data on the stdin of mysql -e source']],
      ["echo \"$1\" > /tmp/q.sql; mysql app -e 'source /tmp/q.sql'", 'reparse', ['mysql -e source /tmp/q.sql runs a file the command writes']],
      ['echo "$1" | mysql app', 'reparse', ['data on the stdin of mysql']],
      ['mariadb app <<< "$1"', 'reparse', ['data on the stdin of mariadb']],
      // mysql's options: -e, --init-command (SQL), --pager (a shell command), --defaults-file (more options), read anywhere.
      ['mysql app -e "$1"', 'reparse', ['mysql -e "$1"']],
      ['mysql --pager="$1" app', 'reparse', ['mysql --pager "$1"']],
      ['mysql -u app "$1"', 'option', ['mysql "$1"']],
      // sqlite3 and mongosh run SQL or JavaScript that can run commands (`.shell`, `.system`, `require('child_process')`).
      ['echo "$1" | sqlite3 /var/db/app.db', 'reparse', ['data on the stdin of sqlite3']],
      ['sqlite3 /var/db/app.db "$1"', 'reparse', ['sqlite3 "$1"']],
      ['sqlite3 /var/db/app.db -cmd "$1" .quit', 'reparse', ['sqlite3 -cmd "$1"']],
      ['sqlite3 -init /dev/stdin /var/db/app.db .quit <<< "$1"', 'reparse', ['data on the stdin of sqlite3 -init']],
      ['mongosh app --eval "$1"', 'reparse', ['mongosh --eval "$1"']],
      ['echo "$1" | mongosh app', 'reparse', ['data on the stdin of mongosh']],
      ['echo "$1" > /tmp/fix.js; mongosh app /tmp/fix.js', 'reparse', ['mongosh /tmp/fix.js runs a file the command writes']],
      // psql runs its start-up file (PSQLRC, whose `\!` runs a command) before -c.
      ['PSQLRC="$1" psql -c "select 1"', 'reparse', ['PSQLRC="$1"']],
      // psql's -o/-L and mysql's --tee write what they print to a file: with data in the command, like curl -o.
      ["psql -v h=\"$1\" -At -o /etc/cron.d/heal <<'SQL'\nselect :'h';\nSQL", 'reparse', ['/etc/cron.d/heal is read as code later']],
      ['psql -v h="$1" -At --output=/etc/cron.d/heal -c "select 1"', 'reparse', ['/etc/cron.d/heal is read as code later']],
      ['psql -v h="$1" -At -L/etc/cron.d/heal -c "select 1"', 'reparse', ['/etc/cron.d/heal is read as code later']],
      ["psql -v h=\"$1\" -At --log-file /tmp/fix.sh <<'SQL'\nselect :'h';\nSQL\nsh /tmp/fix.sh", 'reparse', ['sh /tmp/fix.sh runs a file the command writes']],
      ['mysql --tee=/etc/cron.d/heal app <<< "$1"', 'reparse', ['data on the stdin of mysql', '/etc/cron.d/heal is read as code later']],
      ['mariadb app --tee /etc/cron.d/heal --init-command="set @h=1" -D "$1"', 'reparse', ['/etc/cron.d/heal is read as code later']],
      // sg hands its command word to /bin/sh -c, with -c or without.
      ['sg adm "restart $1"', 'reparse', ['sg adm "restart $1"']],
      ['sg adm -c "restart $1"', 'reparse', ['sg adm "restart $1"']],
      ['sudo sg - adm "$1"', 'reparse', ['sg adm "$1"']],
      ["sg adm 'eval \"$SELFHEAL_PARAM_X\"'", 'reparse', ['eval "$SELFHEAL_PARAM_X"']],
      // install's mode, owner and group from data: `-m 4755 -o root` makes a set-user-ID root program.
      ['install -m "$1" /opt/fix/bin /usr/local/bin/fix', 'reparse', ['install -m "$1"']],
      ['sudo install -Dm "$1" /opt/fix/bin /usr/local/bin/fix', 'reparse', ['install -m "$1"']],
      ['install --owner="$1" /opt/fix/bin /usr/local/bin/fix', 'reparse', ['install --owner "$1"']],
      ['install -g "$SELFHEAL_PARAM_GROUP" /opt/fix/app.conf /srv/app/', 'reparse', ['install -g "$SELFHEAL_PARAM_GROUP"']],
      // So do chmod's mode, chown's owner, chgrp's group and setcap's capabilities.
      ['chmod "$1" /usr/local/bin/fix', 'reparse', ['chmod "$1"']],
      ['sudo chmod -R "$1" /srv/app', 'reparse', ['chmod "$1"']],
      ['chown "$1" /usr/local/bin/fix', 'reparse', ['chown "$1"']],
      ['chgrp -- "$SELFHEAL_PARAM_GROUP" /srv/app/app.conf', 'reparse', ['chgrp "$SELFHEAL_PARAM_GROUP"']],
      ['setcap "$1" /usr/local/bin/fix', 'reparse', ['setcap "$1"']],
      // git's merge strategy NAME runs `git-merge-NAME`; --output=FILE writes what log, diff or show print, data choosing it.
      ['git -C /srv/app merge --strategy="$1" origin/main', 'reparse', ['git --strategy "$1"']],
      ['git -C /srv/app merge -s"$1" origin/main', 'reparse', ['git -s "$1"']],
      ['git -C /srv/app pull -s "$1" origin main', 'reparse', ['git -s "$1"']],
      ['git -C /srv/app rebase --strategy "$1" origin/main', 'reparse', ['git --strategy "$1"']],
      ['git -C /srv/app cherry-pick --strategy="$1" abc123', 'reparse', ['git --strategy "$1"']],
      ['git -C /srv/app log --output="/etc/cron.d/$1" -1', 'reparse', ['"/etc/cron.d/$1" is read as code later']],
      ['git -C /srv/app log --output=/etc/profile.d/fix.sh --end-of-options "$1"', 'reparse', ['/etc/profile.d/fix.sh is read as code later']],
      ['git -C /srv/app diff --output=/tmp/fix.sh -- "$1"; sh /tmp/fix.sh', 'reparse', ['sh /tmp/fix.sh runs a file the command writes']],
      // Still refused beside them: any property from data (the manager writes it into the transient unit's file,
      // a newline in it adding a line: `ExecStartPre=`), the description too; a remote of git lfs pull.
      ['systemd-run --wait -p "Description=fix for $1" /opt/fix/restart.sh', 'reparse', ['systemd-run -p "Description=fix for $1"']],
      ['systemd-run --wait --property=Description="fix $1" /opt/fix/restart.sh', 'reparse', ['systemd-run --property Description="fix $1"']],
      ['systemd-run --description "fix $1" --on-calendar=daily /opt/fix/rotate.sh', 'reparse', ['systemd-run --description "fix $1"']],
      // find's names to xargs -0 are data all the same: they may name any program, or a file data chose in a
      // folder anyone can write (a pass for -print0 | xargs -0 let these through, reverted before it landed).
      ['find "/usr/local/bin/$1" -print0 | xargs -0 -I{} {}', 'reparse', ['{} (a command named by what xargs reads)']],
      ['find /tmp -name "$1" -print0 | xargs -0 -I{} tar -xf x.tar --to-command={}', 'reparse', ['tar --to-command {}']],
      ['find /var/log -name "$1" -print0 | xargs -0 -n1 psql -f', 'reparse', ['psql -f (what xargs reads)']],
      ['systemd-run -p "Description$1" /opt/fix/restart.sh', 'reparse', ['systemd-run -p "Description$1"']],
      ['systemd-run --timer-property="Description=$1" /opt/fix/restart.sh', 'reparse', ['systemd-run --timer-property "Description=$1"']],
      ['git -C /srv/app lfs pull "$1"', 'option', ['git "$1"']],
    ]);

    acceptedRows([
      // `WRAPPER_TAILS["toString"]` was a function: `toString "$1"` was read as a wrapper running a command named by data.
      'toString "$1"',
      'constructor "$1"',
      '__proto__ "$1"',
      'hasOwnProperty -x "$1"',
      'sudo valueOf "$1"',
      'echo "$1" | gxargs tar -xf /backup/app.tar --',
      'echo "$1" | gxargs -n1 systemctl restart',
      'echo "$1" > /tmp/fix.list; xargs -a /tmp/fix.list tar -xf /backup/app.tar --',
      'echo /srv/app > /tmp/fix.list; xargs -a /tmp/fix.list tar -xf /backup/app.tar -C "/srv/$1"',
      '{ echo "$1"; } | xargs tar -xf /backup/app.tar --',
      '{ echo /srv/app; } | xargs tar -xf /backup/app.tar -C "/srv/$1"',
      '(cd /srv/app && ls) | xargs tar -cf "/backup/$1.tar"',
      '{ echo "$1"; }; echo /srv/app | xargs tar -xf /backup/app.tar',
      'echo /srv/app | (cd /srv && xargs tar -xf /backup/app.tar -C "/srv/$1")',
      '(echo "$1"); (xargs tar -xf /backup/app.tar < /etc/fix/archives)',
      'for h in "$@"; do echo "$h"; done | xargs -n1 systemctl restart',
      "psql -d app -v host=\"$1\" <<'SQL'\nselect 1 where :'host' <> '';\nSQL",
      'echo "$1" | psql -d app -c "select 1"',
      'mysql -h "$1" -u app app < /opt/fix/fix.sql',
      'mysql -u app -D app -- "$1"',
      "sg adm 'systemctl restart nginx'",
      'grep -w sg "$1"',
      'install -m 644 -o app -g app /opt/fix/app.conf "/srv/app/$1.conf"',
      'sqlite3 "/var/db/$1.db" "select count(*) from jobs"',
      'chmod 644 "/srv/app/$1.conf"',
      'chown -R app:app -- "/srv/app/$1"',
      'mongosh app --eval "db.jobs.countDocuments()"',
      'git -C /srv/app merge -s ours -m "fix $1" origin/main',
      'git -C /srv/app log --output="/var/log/fix/$1.log" -1',
      // Refused before: rev-parse's options (they only print), git-lfs's patterns.
      'systemd-run --wait --description "fix for the disk" /opt/fix/restart.sh',
      'git -C /srv/app rev-parse --verify "$1"',
      'git -C /srv/app lfs pull --include="$1"',
      'git -C /srv/app lfs pull -I "$1" -X "$2"',
    ]);
  });

  describe('data reaching a reader through a function or a printer of the environment', function () {
    findingRows([
      // A function's body reads what a call's stdin holds: a call piped data has its body checked as reading it.
      ['f() (xargs tar -xf /backup/app.tar); echo "$1" | f', 'option', ['tar (what xargs reads)']],
      ['f() { xargs tar -xf /backup/app.tar; }; printf %s "$1" | f', 'option', ['tar (what xargs reads)']],
      ['function f { cd /srv && psql -d app; }; echo "$1" | f', 'reparse', ['data on the stdin of psql', 'psql reads a descriptor the command feeds']],
      ['f() { x=$(xargs -I{} {}); }; echo "$1" | f', 'reparse', ['{} (a command named by what xargs reads)']],
      ['f() (xargs -I{} cp {} /srv/app/); f < "$1"', 'option', ['cp {}']],
      ['f() { g; }; g() { xargs tar -xf /backup/app.tar; }; f <<< "$1"', 'option', ['tar (what xargs reads)']],
      ['f() { cat > /tmp/fix.sh; }; echo "$1" | f; sh /tmp/fix.sh', 'reparse', ['sh /tmp/fix.sh runs a file the command writes']],
      // What prints the environment (the SELFHEAL_PARAM_* values) or the shell's variables prints data, and so does a
      // function whose body carries data.
      ['printenv SELFHEAL_PARAM_HOST | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['sudo -E printenv | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['env | xargs -I{} cp {} /srv/app/', 'option', ['cp {}']],
      ['export -p | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['declare -p SELFHEAL_PARAM_X | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['typeset -xp SELFHEAL_PARAM_X | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['xargs -0 -a /proc/self/environ tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ["tr '\\0' '\\n' < /proc/self/environ | xargs tar -xf /backup/app.tar", 'option', ['tar (what xargs reads)']],
      ['{ printenv SELFHEAL_PARAM_HOST; } | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['printenv SELFHEAL_PARAM_SQL | psql -d app', 'reparse', ['data on the stdin of psql']],
      ['g() { echo "$SELFHEAL_PARAM_HOST"; }; g | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['g() (printenv SELFHEAL_PARAM_HOST); g | xargs -I{} {}', 'reparse', ['{} (a command named by what xargs reads)']],
      // Refused before, for the record.
      ['echo "${SELFHEAL_PARAM_HOST}" | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
      ['g() { echo "$1"; }; g "$1" | xargs tar -xf /backup/app.tar', 'option', ['tar (what xargs reads)']],
    ]);

    acceptedRows([
      'f() (xargs tar -xf /backup/app.tar); echo /srv/app | f',
      'f() (xargs tar -xf /backup/app.tar --); echo "$1" | f',
      'f() { logger -t fix; }; echo "$1" | f',
      'g() { echo /srv/app; }; g | xargs tar -xf /backup/app.tar',
      'printenv SELFHEAL_PARAM_HOST | xargs tar -xf /backup/app.tar --',
      'printenv SELFHEAL_PARAM_HOST | xargs -n1 systemctl restart',
      "env | grep -c '^SELFHEAL_PARAM_'",
    ]);

    it('checks a function\'s body once, however often it is piped data (64 KiB of calls)', function () {
      this.timeout(10_000);
      const head = 'f() { cd /srv/app; xargs -n1 systemctl restart; }; ';
      const command = (share: number) => `${head}${'echo "$1" | f; '.repeat(Math.floor((share * (65536 - head.length)) / 16))}`;
      assert.deepEqual(shellDataFindings(command(1)), []);
      assertLinear('echo "$1" | f;', command);
    });
  });

  describe("psql's meta-commands and variables in a command with data", function () {
    findingRows([
      // psql copies an unquoted :h into the SQL as written, backslash commands too (`\! id`); with data in the command,
      // meta-commands that run a shell, run what a query prints, or pipe it on are refused, and a file they write is a
      // file written with data.
      ["psql -d app -v h=\"$1\" <<'SQL'\nselect * from hosts where name = :h;\nSQL", 'reparse', ['psql :h (copied into the SQL as written)']],
      ["psql -d app <<'SQL'\n\\getenv h SELFHEAL_PARAM_HOST\nselect * from hosts where name = :h;\nSQL", 'reparse', ['psql :h (copied into the SQL as written)']],
      ["psql -d app -v h=\"$1\" -At <<'SQL'\n\\o /etc/cron.d/heal\nselect :'h';\nSQL", 'reparse', ['/etc/cron.d/heal is read as code later']],
      ["psql -d app -v h=\"$1\" -At <<'SQL'\n\\o /tmp/fix.sh\nselect :'h';\nSQL\nsh /tmp/fix.sh", 'reparse', ['sh /tmp/fix.sh runs a file the command writes']],
      ["psql -d app -v h=\"$1\" -At <<'SQL'\nselect :'h' \\g /etc/profile.d/fix.sh\nSQL", 'reparse', ['/etc/profile.d/fix.sh is read as code later']],
      ["psql -d app -v h=\"$1\" <<'SQL'\ncreate temp table t (h text);\ninsert into t values (:'h');\n\\copy t to '/etc/cron.d/heal'\nSQL", 'reparse', ['/etc/cron.d/heal is read as code later']],
      ["psql -d app -v h=\"$1\" -At <<'SQL'\nselect :'h' \\g |sh\nSQL", 'reparse', ['psql \\g | (pipes what psql prints to a command)', 'sh reads a descriptor the command feeds']],
      ["psql -d app -v h=\"$1\" <<'SQL'\n\\! /opt/fix/notify.sh\nselect :'h';\nSQL", 'reparse', ['psql \\! (a shell command beside data)']],
      ["psql -d app -v h=\"$1\" <<'SQL'\nselect format('drop table %I', :'h') \\gexec\nSQL", 'reparse', ['psql \\gexec (beside data)']],
      ["psql -d app -v h=\"$1\" <<'SQL'\ncopy (select :'h') to program 'sh';\nSQL", 'reparse', ['psql copy … program (runs a command beside data)']],
      ["psql -d app -v f=\"$1\" <<'SQL'\n\\o :'f'\nselect 1;\nSQL", 'reparse', ["psql \\o :'f' (a file a variable names)"]],
      ["psql -d app -v h=\"$1\" -c '\\o /etc/cron.d/heal' -c \"select 1\"", 'reparse', ['/etc/cron.d/heal is read as code later']],
      // A backquoted command in a meta-command's argument runs; \!'s command is read as a command, with data or without.
      ["psql -d app <<'SQL'\n\\set h `printenv SELFHEAL_PARAM_HOST`\nSQL", 'reparse', ['psql \\set `…` (runs a shell command)']],
      ["psql -d app <<'SQL'\n\\! eval \"$SELFHEAL_PARAM_X\"\nSQL", 'reparse', ['eval "$SELFHEAL_PARAM_X"']],
    ]);

    acceptedRows([
      "psql -d app -v h=\"$1\" -At <<'SQL'\n\\o /var/log/fix/report.txt\nselect count(*) from jobs where host = :'h'::text;\n\\o\nSQL",
      "psql -d app -v h=\"$1\" <<'SQL'\nselect :'h', :\"h\" \\gx\nSQL",
      "psql -d app <<'SQL'\n\\! systemctl restart app\nSQL",
    ]);

    it('reads psql\'s meta-commands in one pass (64 KiB of \\g and \\o)', function () {
      this.timeout(10_000);
      for (const unit of ['\\g ', '\\o /var/log/fix/r.txt\n', 'copy t to stdout ']) {
        const command = (share: number) => `psql -d app -v h="$1" <<'SQL'\n${unit.repeat(Math.floor((share * 65000) / unit.length))}\nSQL`;
        assert.deepEqual(shellDataFindings(command(1)), []);
        assertLinear(unit.trim(), command);
      }
    });
  });

  describe("mongosh's first operand, a script's file when it ends in .js", function () {
    findingRows([
      // mongosh takes a first operand ending in .js or .mongodb for a script's file (with --nodb, any first operand).
      ['mongosh "app_$1"', 'reparse', ['mongosh "app_$1" (a script file when it ends in .js)']],
      ['mongosh --quiet "/srv/mongo/$1"', 'reparse', ['mongosh "/srv/mongo/$1" (a script file when it ends in .js)']],
      ['mongosh --nodb "fix-${1}.txt"', 'reparse', ['mongosh "fix-${1}.txt" (a script file when it ends in .js)']],
      // Refused before, for the record.
      ['mongosh "$1"', 'reparse', ['mongosh "$1"']],
      ['mongosh --eval "$1"', 'reparse', ['mongosh --eval "$1"']],
      // A connection string is a database whatever it ends in, `.mongodb` is one to the old mongo, and --shell
      // reads the stdin after the script: the data on the stdin is JavaScript all the same.
      ['echo "$1" | mongosh mongodb://db.internal/app.mongodb', 'reparse', ['data on the stdin of mongosh']],
      ['echo "$1" | mongosh mongodb://db.internal/app.js', 'reparse', ['data on the stdin of mongosh']],
      ['echo "$1" | mongo app.mongodb', 'reparse', ['data on the stdin of mongo']],
      ['mongo app.mongodb <<< "$1"', 'reparse', ['data on the stdin of mongo']],
      ['echo "$1" | mongosh --shell app.js', 'reparse', ['data on the stdin of mongosh']],
      ['echo "$1" | mongosh app.js --shell', 'reparse', ['data on the stdin of mongosh']],
      ['echo "$1" | mongo app /srv/fix.js --shell', 'reparse', ['data on the stdin of mongo']],
    ]);
  });

  describe('psql and mysql reading SQL on a stdin they inherit from a group the command feeds', function () {
    findingRows([
      ['{ psql -d app; } <<< "$1"', 'reparse', ['psql reads a descriptor the command feeds']],
      ['( psql -d app ) <<< "$1"', 'reparse', ['psql reads a descriptor the command feeds']],
      ['if true; then psql -d app; fi <<< "$1"', 'reparse', ['psql reads a descriptor the command feeds']],
      ['exec <<< "$1"; psql -d app', 'reparse', ['psql reads a descriptor the command feeds']],
      ['{ mysql app; } <<< "$1"', 'reparse', ['mysql reads a descriptor the command feeds']],
    ]);
    acceptedRows([
      // Its own SQL given, or its own stdin without data.
      'psql -d app -v h="$1" <<\'SQL\'\nselect :\'h\';\nSQL',
      '{ psql -d app -c "select 1"; } <<< "$1"',
    ]);

    acceptedRows([
      // A script file given, no --shell: the stdin is not read.
      'echo "$1" | mongosh app.mongodb',
      'echo "$1" | mongo app /srv/fix.js',
      'mongosh "mongodb://db.internal:27017/$1" --quiet --eval "db.jobs.countDocuments()"',
      'mongosh "app_${1}_db" --quiet --eval "db.jobs.countDocuments()"',
    ]);
  });

  it('refuses whatever the reader cannot follow, and terminates on hostile input', function () {
    for (const hostile of ['$(((((', '${{{{', '"`"`"`', "<<'", '<<', '\\', '$', '`\\', 'case', 'case x in', '((', '$((', '${a[', '${!', ')'.repeat(4096), '$('.repeat(2048), '"$(' .repeat(1365), `cat <<${'A'.repeat(4000)}`, '\r$1\r', 'a\u00a0$1']) {
      const findings = shellDataFindings(hostile);
      assert.ok(Array.isArray(findings));
    }
    // Nesting of ${…} and $((…)) is bounded like $(…): refused, not a stack overflow.
    for (const deep of ['${a:-'.repeat(800), '$(( $(( '.repeat(400)]) {
      assert.deepEqual(shellDataFindings(deep).filter((f) => f.kind === 'unreadable'), [{ kind: 'unreadable', text: 'nesting deeper than 16' }]);
    }
    // find -exec find -exec …: each command is read inside the one before, to the same bound.
    assert.deepEqual(shellDataFindings(`find . ${'-exec find {} '.repeat(300)}`), [{ kind: 'unreadable', text: 'find -exec nested deeper than 16' }]);
    // Work is bounded by the nesting: a 4 KiB command of eval strings or backticks is read in well under a second.
    for (const heavy of ['eval eval '.repeat(409), '`'.repeat(4096), '$a'.repeat(2048), `ln -s /dev/stdin ${'{,}'.repeat(40)}`, `cp x ${'{a,b}'.repeat(40)}`, `cp a ${'{'.repeat(600)}${'{1..1}'.repeat(580)}`, `find / ${'-exec sh -c x{} '.repeat(260)}`, `find . ${'-exec x {} ; '.repeat(400)}`, `sed -n '${'\\x;'.repeat(1360)}' <<< "$1"`, `sed -i '${';/'.repeat(2040)}' /etc/cron.d/x`, `sed -n '${' '.repeat(4080)}w x'`, `node ${'--x '.repeat(1360)}`]) {
      const started = performance.now();
      shellDataFindings(heavy);
      assert.ok(performance.now() - started < 1000, `${heavy.slice(0, 10)}… took ${performance.now() - started} ms`);
    }
    // A carriage return is part of a word, not a blank: the $1 beside it is still found.
    assert.deepEqual(unquotedParameters('a\r$1\r'), ['$1']);
  });

  it('reads a deep nest of piped groups and a long pipeline of compounds in one pass (64 KiB)', function () {
    // Whether a group is piped data is asked at every command: a scan of the open groups or of the pipeline each time
    // would make these quadratic.
    this.timeout(10_000);
    for (const [unit, tail, close] of [['echo ok | { ', ':', '; }'], ['{ :; } | ', 'cat', ''], ['(:) | ', 'cat', '']] as const) {
      const command = (share: number) => {
        const n = Math.floor((share * 65536) / (unit.length + close.length));
        return `${unit.repeat(n)}${tail}${close.repeat(n)}`;
      };
      assert.deepEqual(shellDataFindings(command(1)), []);
      assertLinear(unit.trim(), command);
    }
  });

  it('reads a long run of option words in one pass (64 KiB of zip -TT, quoted tar options)', function () {
    // Each `-TT` or option word quoted with its data copied every word of the command: 2.3 s for 64 KiB of `zip -TT`.
    this.timeout(10_000);
    for (const [unit, head, want] of [[' -TT', 'zip /backup/x.zip', ['zip "$1"']], [' "-C$1"', 'tar -xf /backup/x.tar', []], [' "--exclude=$1"', 'tar -xf /backup/x.tar', []]] as const) {
      const command = (share: number) => `${head}${unit.repeat(Math.floor((share * (65536 - head.length - 5)) / unit.length))}${want.length > 0 ? ' "$1"' : ''}`;
      assert.deepEqual(shellDataFindings(command(1)).map((f) => f.text), want);
      assertLinear(unit.trim(), command);
    }
  });

  it('matches copied folders against written files in one pass (64 KiB of writes and cp sources)', function () {
    // Each source scanning every written path (and splitting it) took 3.8 to 6.3 s at this size.
    this.timeout(20_000);
    const relWrites = 'echo "$1" > d/f; '.repeat(1927);
    const absWrites = Array.from({ length: 1489 }, (_, i) => `echo "$1" > /t/${i}; `).join('');
    for (const [writes, sources] of [[relWrites, ' x'.repeat(16384)], [absWrites, ' x'.repeat(16384)], [absWrites, ' /q/x'.repeat(6553)], [relWrites, ' /q/x'.repeat(6553)]] as const) {
      const command = (share: number) => `${wholeUnits(writes, share, '; ')}cp -r${wholeUnits(sources, share, ' ')} /etc/cron.d`;
      assert.deepEqual(shellDataFindings(command(1)), []);
      assertLinear(`${writes.slice(0, 16)}… cp -r${sources.slice(0, 5)}…`, command);
    }
    // The same folders holding a written file are still found.
    assert.deepEqual(shellDataFindings(`${relWrites}cp -r${' x'.repeat(100)} /tmp/d /etc/cron.d`).map((f) => f.text), ['/etc/cron.d is read as code later']);
    assert.deepEqual(shellDataFindings(`${absWrites}cp -r${' x'.repeat(100)} /t /etc/cron.d`).map((f) => f.text), ['/etc/cron.d is read as code later']);
  });

  it('reads a long chain of wrappers in one pass (64 KiB of xargs, sudo, env words)', function () {
    // Quadratic work here (each xargs scanning and printing every word after it) took 9 s and more at this size.
    this.timeout(5_000);
    const n = 65536 / 6;
    assert.deepEqual(shellDataFindings('xargs '.repeat(n)), []);
    assert.deepEqual(shellDataFindings(`echo "$1" | ${'xargs '.repeat(n)}sh`).map((f) => f.text), ['data on the stdin of xargs xargs xargs xargs xargs xargs xa…', 'data on the stdin of sh']);
    assert.deepEqual(shellDataFindings(`${'sudo env '.repeat(n / 2)}restart "$1"`), []);
  });

  it('names what it found and how to write it', function () {
    assert.equal(commandDataProblem('restart "$1"'), undefined);
    assert.match(
      commandDataProblem('restart $1 $2')!,
      /^the command expands "\$1", "\$2" outside double quotes: the shell splits the value .* Write it in double quotes: "\$1", "\$a", "\$@", "\$SELFHEAL_PARAM_…", "\$\(…\)"$/,
    );
    assert.match(commandDataProblem('a=$1; rm $a')!, /expands "\$a" outside double quotes: .*a copy of it in a variable/);
    assert.match(commandDataProblem('eval "x $1"')!, /^the command hands data to another parser \("eval \\"x \$1\\""\): quoted or not, the value is read as code there.*sh -c 'restart "\$1"' _ "\$1"/);
    assert.match(commandDataProblem('echo $(( $1 ))')!, /^the command evaluates "\$1" as arithmetic .* a value a\[\$\(cmd\)\] runs cmd/);
    assert.match(commandDataProblem('echo "$1')!, /^the check cannot read the command \(an unterminated double quote\), and refuses what it cannot read/);
  });

  it('checks only templated values: fixed args and environment are the author\'s', function () {
    assert.equal(carriesTemplates({ args: ['nginx'] }), false);
    assert.equal(carriesTemplates({ args: [], environment: { SELFHEAL_PARAM_DRY_RUN: '1' } }), false);
    assert.equal(carriesTemplates({}), false);
    assert.equal(carriesTemplates({ args: ['nginx', '{{ incident.title }}'] }), true);
    assert.equal(carriesTemplates({ args: ['web-{{alert.host}}'] }), true);
    assert.equal(carriesTemplates({ environment: { SELFHEAL_PARAM_HOST: '{{ environment.host }}' } }), true);
  });
});

/** The first `share` of `text`, cut after a `separator` so no unit is cut in two. */
function wholeUnits(text: string, share: number, separator: string): string {
  return text.slice(0, text.lastIndexOf(separator, Math.floor(share * text.length)) + separator.length);
}

/**
 * The check's work grows in proportion to the command: the whole command takes under 10 times what its
 * first quarter takes (4 times when linear, 16 when quadratic; the best of five runs each, taken in turns so
 * a stretch of load, a collection, lands on both alike). A ratio in the same run, not a time: a busy machine
 * slows both alike (an absolute second failed under a load of 8; best of two, in a row, failed now and then
 * under a load of 4.5, the whole command's runs both landing in one busy stretch).
 */
function assertLinear(label: string, command: (share: number) => string): void {
  const texts = [command(0.25), command(1)] as const;
  const fastest = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  for (let run = 0; run < 5; run++) {
    for (const i of [0, 1] as const) {
      const started = performance.now();
      shellDataFindings(texts[i]);
      fastest[i] = Math.min(fastest[i]!, performance.now() - started);
    }
  }
  const [quarter, whole] = fastest as [number, number];
  assert.ok(whole < 10 * quarter + 20, `${label}: the whole command took ${whole.toFixed(1)} ms, its first quarter ${quarter.toFixed(1)} ms`);
}
