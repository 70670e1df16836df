import assert from 'node:assert/strict';
import { unquotedParameters, unquotedParametersProblem } from '../../src/domain/shell-words.js';

// Where `sh -c` splits a rule command's arguments (incident data) into words: test/security/authority.test.ts
// shows what an unquoted `$1` did with a title on the real sshd; these are the spellings the check reads.
describe('unquotedParameters: positional parameters a shell command expands outside double quotes', function () {
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
    ['echo $(($1 + 1))', ['$1']],
    ['echo `ls $2`', ['$2']],
    ['echo "`ls $2`"', ['$2']],
    ['id # not $1', []],
    ['echo a#$1', ['$1']],
    ['echo $0 $# $? $$', []],
    ['a=$1', ['$1']],
    ['echo $(echo) $3', ['$3']],
    ['id > /tmp/x', []],
    ['restart $SELFHEAL_PARAM_HOST ${SELFHEAL_PARAM_X:-y}', ['$SELFHEAL_PARAM_HOST', '${SELFHEAL_PARAM_X:-y}']],
    ['restart "$SELFHEAL_PARAM_HOST" $HOME $PATH', []],
  ];
  for (const [command, want] of cases) {
    it(`${command} → ${JSON.stringify(want)}`, function () {
      assert.deepEqual(unquotedParameters(command), want);
    });
  }

  it('names what it found and how to write it', function () {
    assert.equal(unquotedParametersProblem('restart "$1"'), undefined);
    assert.match(unquotedParametersProblem('restart $1 $2')!, /^the command expands "\$1", "\$2" outside double quotes: .* Write "\$1" \(or "\$@", "\$SELFHEAL_PARAM_…"\) in double quotes$/);
    // Only what the action gives counts: positional parameters with args, SELFHEAL_PARAM_* with an environment.
    assert.equal(unquotedParametersProblem('restart $1', { args: false, environment: true }), undefined);
    assert.match(unquotedParametersProblem('restart $1 $SELFHEAL_PARAM_HOST', { args: false, environment: true })!, /^the command expands "\$SELFHEAL_PARAM_HOST" outside/);
  });
});
