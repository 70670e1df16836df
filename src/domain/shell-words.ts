/**
 * Where a shell command line splits its arguments into words.
 *
 * A `script.ssh` action with `command` runs `sh -c '<command>' selfheal <args…>`: its rendered `args` (an
 * incident's title, an alert's host: anyone holding a PagerDuty integration key writes them) are `$1`, `$2`…
 * Written unquoted (`systemctl restart $1`), the shell splits such a value at spaces and expands its `*`,
 * `?` and `[…]` against the VM's files, so a title `web-01 --force *` gave the command the arguments
 * `web-01`, `--force` and every file name of the working folder (tried against the real sshd). The check
 * on `args` (src/domain/script-args.ts) sees only a value that starts with `-`. Inside double quotes
 * (`"$1"`, `"$@"`) a value stays one argument.
 *
 * {@link unquotedParameters} finds the positional parameters a command expands outside double quotes: `$1`
 * to `$9`, `${N}` (with or without an operator: `${1:-x}`), `$@` and `$*`, in the command itself, in a
 * command substitution `$(…)` or `` `…` `` (quoted or not: its inside is a command of its own) and in an
 * arithmetic expansion `$((…))`, and the `SELFHEAL_PARAM_*` variables a rule's `environment` sets (rendered
 * from the same data; `$SELFHEAL_PARAM_HOST` splits alike). Single quotes, backslash escapes and comments are read as the shell reads
 * them. It errs towards finding: an assignment (`x=$1`) or a `case $1 in` does not split, yet is reported
 * all the same; write `"$1"` there too.
 *
 * Pure: used by the rule save (400 naming `actions.N.command`) and by the worker before it runs a command.
 */

/**
 * The positional parameters (`$1`, `${2:-x}`, `$@`) and the `SELFHEAL_PARAM_*` variables (a rule's templated
 * `environment`, as data-borne as `args`) `command` expands where the shell splits words, as written, in
 * order; at most 10.
 */
export function unquotedParameters(command: string): string[] {
  const found: string[] = [];
  // Contexts: 'plain' (the command, or inside `$(`, `$((` or backticks: words split) and 'dq' (inside double quotes).
  const stack: { kind: 'plain' | 'dq' | 'sub' | 'arith' | 'tick'; depth: number }[] = [{ kind: 'plain', depth: 0 }];
  let atWordStart = true;
  for (let i = 0; i < command.length && found.length < 10; i++) {
    const top = stack[stack.length - 1]!;
    const c = command[i]!;
    const next = command[i + 1];
    if (c === '\\') {
      i++;
      atWordStart = false;
      continue;
    }
    if (top.kind === 'dq') {
      if (c === '"') stack.pop();
      else if (c === '$' && next === '(') {
        const arith = command[i + 2] === '(';
        stack.push({ kind: arith ? 'arith' : 'sub', depth: 0 });
        i += arith ? 2 : 1;
      } else if (c === '`') stack.push({ kind: 'tick', depth: 0 });
      continue;
    }
    // Words split here.
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      i = end === -1 ? command.length : end;
      atWordStart = false;
      continue;
    }
    if (c === '#' && atWordStart) {
      const end = command.indexOf('\n', i);
      i = end === -1 ? command.length : end;
      atWordStart = true;
      continue;
    }
    atWordStart = /[\s;&|()]/.test(c);
    if (c === '"') {
      stack.push({ kind: 'dq', depth: 0 });
      continue;
    }
    if (c === '`') {
      if (top.kind === 'tick') stack.pop();
      else stack.push({ kind: 'tick', depth: 0 });
      atWordStart = true;
      continue;
    }
    if (c === '$') {
      if (next === '(') {
        const arith = command[i + 2] === '(';
        stack.push({ kind: arith ? 'arith' : 'sub', depth: 0 });
        i += arith ? 2 : 1;
        atWordStart = true;
        continue;
      }
      if (next !== undefined && /[1-9@*]/.test(next)) {
        found.push(`$${next}`);
        i++;
        continue;
      }
      if (next === '{') {
        const m = /^\{([1-9][0-9]*|[@*]|SELFHEAL_PARAM_[A-Za-z0-9_]*)([^}]*)\}/.exec(command.slice(i + 1));
        if (m) {
          found.push(`$${m[0]}`);
          i += m[0].length;
        }
        continue;
      }
      const named = /^SELFHEAL_PARAM_[A-Za-z0-9_]*/.exec(command.slice(i + 1));
      if (named) {
        found.push(`$${named[0]}`);
        i += named[0].length;
      }
      continue;
    }
    if (top.kind === 'sub' || top.kind === 'arith') {
      if (c === '(') top.depth++;
      else if (c === ')') {
        if (top.depth > 0) top.depth--;
        else {
          // `$((…))` ends with two parentheses.
          if (top.kind === 'arith' && command[i + 1] === ')') i++;
          stack.pop();
        }
      }
    }
  }
  return found;
}

/**
 * Why `command` may not take data (its unquoted parameters), or undefined when it may: positional ones count
 * when the action has `args`, `SELFHEAL_PARAM_*` ones when it has an `environment`.
 */
export function unquotedParametersProblem(command: string, given: { args: boolean; environment: boolean } = { args: true, environment: true }): string | undefined {
  const found = unquotedParameters(command).filter((p) => (p.includes('SELFHEAL_PARAM_') ? given.environment : given.args));
  if (found.length === 0) return undefined;
  return (
    `the command expands ${found.map((p) => JSON.stringify(p)).join(', ')} outside double quotes: the shell splits the value (an incident's title or ` +
    `host) at spaces and expands its * and ?, so the data can add arguments and options of its own. Write "$1" (or "$@", "$SELFHEAL_PARAM_…") in double quotes`
  );
}
