/**
 * What a shell command does with incident data.
 *
 * A `script.ssh` action with `command` runs `sh -c '<command>' selfheal <args…>`: its rendered `args` (an
 * incident's title, an alert's host: anyone holding a PagerDuty integration key writes them) are `$1`, `$2`…,
 * and its `environment` reaches the shell as `SELFHEAL_PARAM_*` variables. Written unquoted
 * (`systemctl restart $1`), the shell splits such a value at spaces and expands its `*`, `?` and `[…]`
 * against the VM's files, so a title `web-01 --force *` gave the command the arguments `web-01`, `--force`
 * and every file name of the working folder (tried against the real sshd). Inside double quotes (`"$1"`,
 * `"$@"`) a value stays one argument. Handed to something that parses it again (`eval`, `sh -c "…$1"`,
 * `ssh host "…$1"`, bash arithmetic), quotes do not help: the value is read as code there.
 *
 * {@link shellDataFindings} reads the command as `sh` does and reports, in order:
 * - `unquoted`: every expansion outside double quotes that could carry data: `$name` (any variable, since
 *   `a=$1; rm $a` copies the data), `${…}` (operators, `${!x}`, `${x[@]}` included), `$1`…`$9`, `$@`, `$*`,
 *   and an unquoted `$(…)` or backtick substitution (its output may be the data). `$?`, `$#`, `$$`, `$0`,
 *   `$!` and `$-` are the shell's own numbers and flags, never data, and pass; `$0` is data in an
 *   `sh -c '…'` string whose first operand is (`bash -c 'eval "$0"' "$1"`). Not reported: an assignment word
 *   before the command (`x=$1`, `pid=$(pgrep -f "$1")`, `x=$1 cmd`) and an operand of `[[ … ]]`, where the
 *   shell neither splits nor globs; still reported after a declaration builtin (`local x=$1`: older dash
 *   splits it, and a value `y PATH=/tmp/e` sets PATH; dash 0.5.12 and bash do not), in `a[0]=$1` and
 *   `x=($1)`, and a later unquoted `$x`.
 * - `arithmetic`: an expansion or a bare variable name inside `$((…))`, `$[…]`, `((…))`, `let`, a
 *   `[[ … -eq … ]]` comparison, an array subscript (`${a[$1]}`, an assignment's `a["$1"]=x`), a substring offset
 *   (`${x:$1}`), an indirection (`${!x}`), the name after `-v` of `test`/`[`/`[[`, or an assignment to a name
 *   declared `-i` earlier in the list (`local -i n; n="$1"`) or to one of bash's own (`RANDOM="$1"`, `OPTIND`,
 *   `SRANDOM`, `HISTCMD`…), quoted or not: bash evaluates a variable's
 *   value as an arithmetic expression there, recursively, and an array subscript inside it runs command
 *   substitutions (a value `a[$(id)]` runs `id`). Digits, operators, the specials above, a length
 *   (`${#1}`) and the shell's own numbers (`RANDOM`, `SECONDS`, `LINENO`, `PPID`, `BASHPID`, `UID`, `EUID`) are
 *   all that is safe inside arithmetic; those names only while nothing read names them elsewhere (they may be
 *   filled: `RANDOM="$1"`, or a mention inside an `sh -c` string) and no command is `unset` (bash's RANDOM,
 *   SECONDS, LINENO and BASHPID become plain variables when unset).
 * - `reparse`: an expansion (quoted or not) given to another parser: `eval`, `.`/`source`, the command
 *   string of `sh -c` (`bash`, `dash`, `zsh`, `ksh`, `su`, `runuser`, `flock … -c`, `sg group [-c] …`; also behind `sudo`,
 *   `env`, `timeout`, `xargs`, `find -exec`…; and a shell followed by `-c` anywhere in the words:
 *   `docker exec web sh -c …`), `env -S`, `python -c`, `perl -e` and the like, an `awk` or `sed` program, any
 *   argument of `ssh`, `scp`, `rsync` or `watch` (they hand it to a remote or local shell), `trap`'s action,
 *   `${x@P}`, an assignment to a variable read as code (`PS4`, `PROMPT_COMMAND`, `BASH_ENV`, `ENV`, `PATH`,
 *   `IFS`, `LD_*`…), and data piped or here-documented into a shell or interpreter that reads its program
 *   from stdin (`echo "$1" | sh`, `sh /dev/stdin <<< "$1"`, `ssh host <<EOF … $1 … EOF`). A literal
 *   `sh -c '…'`, `eval '…'` or `trap '…'` string (a `$'…'` one decoded first), and a here-document without
 *   expansions read by a shell (`bash <<'EOF'`), is read as a command of its own:
 *   `sh -c 'restart "$1"' _ "$1"` passes, `sh -c 'restart $1' _ "$1"` does not. The bodies of `f() { …; }`,
 *   `function f { …; }` and `coproc [NAME] …` are commands like any other.
 *   Also `reparse`, data reaching code by other roads: a shell, interpreter, `ssh`, `at`, `crontab`, `awk -f` or
 *   `sed -f` reading its program from a descriptor it inherits (`{ sh; } <<< "$1"`, `eval sh`, `sh /dev/fd/3`,
 *   `<&3`) while the command feeds any descriptor; a code variable filled by `read`, `mapfile`, `for`,
 *   `printf -v`, `getopts`, a name reference or `env`/`sudo NAME=…`, and a variable named by data (`read "$1"`:
 *   `arithmetic`); `compgen`, `complete`, `mapfile -C`, `bind`, `fc`, `enable`, `hash -p`, `alias`; a command
 *   named by data (`"$1" …`, also behind the wrappers of {@link WRAPPER_TAILS}; a function running `"$@"` is
 *   checked where it is called); a file written with anything but literal text and run in the same command
 *   (`echo "$1" > f; sh f`), or written where other programs run or load it ({@link CODE_FILES}: cron, profiles,
 *   systemd, `.ssh`, logrotate, udev, apt, modprobe, PAM, python's site files), also by `sed`'s `w` and by `sed -i`
 *   reading data in (`r /dev/stdin`); gawk's includes (`-i`, `@include`, `-l`, `@load`) and bash 5.3's
 *   `source -p PATH f` read like `awk -f`'s file; a name `find` puts in place of `{}` inside code it runs
 *   (`-exec sh -c 'gzip {}' \;`); an interpreter's option the lists do not know may take the next word
 *   ({@link INTERPRETER_OPTIONS}); data as the value of an option that runs it (`tar --to-command="$1"`,
 *   `sort --compress-program`, `git -c`, `git --exec-path=`, `wget -e`, `curl -K`, `psql -c`, `psql -f`:
 *   {@link OPTION_PROGRAMS}' `code`; data on the stdin of psql or mysql reading their SQL there, {@link STDIN_SQL}; in a psql command
 *   with data, an unquoted `:name` and the meta-commands that run a shell, run a query's output or pipe it on ({@link PSQL_RUNNERS},
 *   {@link PSQL_WRITERS}); a first operand of mongosh with data that may end in `.js` (a script's file); any option with data of a git
 *   subcommand that may be an alias, `git f`).
 * - `option`: data that may start a word where a program still reads options: double quotes keep `"$1"` one
 *   word, but a value `--to-command=id` is an option to `tar -xf x.tar "$1"`. Counted for the programs of
 *   {@link OPTION_PROGRAMS} (tar, sed, sort, git, curl, wget, zip, psql, mysql, cp, mv, ln, install; gtar, bsdtar, gsed:
 *   options that run a command or write a file, read anywhere before `--` since GNU getopt permutes), also for what
 *   `xargs` (or `gxargs`) reads and hands them ({@link xargsWords}: `echo "$1" | xargs tar -xf x.tar`, also the output of a group, subshell, loop, `if` or `case`
 *   holding data: `{ echo "$1"; } | xargs tar …`, of a command printing the environment or variables, `printenv X | xargs tar …`, or of a
 *   function whose body carries data; and a function's body when a call is piped data, {@link Reader.checkPipedCalls}), `find`'s start paths (a `-delete` there is its
 *   expression, after `--` too), `awk` before its first operand once `-f`, `-e` or `-E` gave the program, and
 *   perl, ruby, node, php, lua and expect after a program or script file given by an option (they read options
 *   on: `perl -e 1 "$1"`, `expect -f x.exp "$1"`). Not counted: a word after `--`, an option's value
 *   (`curl -H "$1"`, `tar --file="$1"`), a word starting with text of its own (`"./$1"`, `"x-$1"`). The run's own
 *   check on `args` (script-args.ts) refuses a `$N` value starting with `-` unless an earlier arg is `--`; this
 *   one also sees `SELFHEAL_PARAM_*`, copies in variables and `$(…)`, and says so at the save.
 * - `unreadable`: what the reader cannot follow (an unterminated quote, `$(`, `${` or backtick, a
 *   here-document without its closing line, a `)` with nothing open, an unquoted `[[` without its `]]`,
 *   nesting past {@link MAX_DEPTH}):
 *   refused, never passed.
 *
 * Read as the shell reads: single quotes, `$'…'`, backslashes, double quotes (an expansion inside is one
 * word), comments (`#` starting a word outside quotes, to the end of the line, in `$(…)` too),
 * nested `$(…)` with quotes of their own, backticks (their `\$`, `` \` `` and `\\` unescaped, the inside
 * read as a command), `case … in pattern)` (its `)` does not end a `$(`), and here-documents: `<<EOF` and
 * `<<-EOF` bodies are read after the line that opens them, where an apostrophe or a `"` is a plain
 * character; an unquoted delimiter's body expands `$…` but neither splits nor globs (POSIX: like double
 * quotes), so an expansion there is not `unquoted`, though it counts as data for the command reading the
 * body (a shell on stdin re-parses it); a quoted delimiter (`<<'EOF'`, `<<"EOF"`, `<<E\OF`) expands nothing.
 * It errs towards refusing: `case $1 in` does not split, yet is reported, and so is a shell number named
 * anywhere else or read inside an `sh -c` string or backticks (`sh -c 'sleep $((RANDOM))'`); after a wrapper (`sudo`,
 * `timeout`, `find`…) any word naming a shell or ssh is taken for the command (`timeout 5 grep ssh "$1"`),
 * the options of `command`, `exec` and `time` are skipped, and `[[` opens a test only unquoted. The options of wrappers,
 * `env`, `exec`, `ln`, `cp -s`, `xargs` and `awk` are read as getopt reads them ({@link readOption}): a cluster ends at
 * its first letter taking a value (`sudo -Eu root CMD`), and a long option may be cut short (`timeout --sig KILL`).
 * What it does not see is listed in docs/security.md ("What the shell-words check does not see").
 *
 * Hand-written on purpose: `bash-parser` (0.5.0, unmaintained, 21 small dependencies on Babel 6) and
 * `shell-quote` (a tokenizer of argv quoting: no here-documents, no nesting, expands variables itself)
 * cannot say what is quoted where; `mvdan-sh` (a GopherJS build, 0.10.1) and `sh-syntax` (mvdan/sh as Go
 * WASM, well kept) parse properly but load a Go runtime and answer asynchronously, where this check runs
 * inside a synchronous rule validation and must stay a pure module; and the decisions (which expansion may
 * carry data, which command re-parses it) would still be ours on top of their syntax tree. What this reader
 * cannot follow it refuses, naming what it could not read, rather than passing it: a check that fails
 * open is worse than one that refuses.
 *
 * Pure: used by the rule save and rollback (400/409 naming `actions.N.command`) and by the worker before it
 * runs a stored command ("not run: …"), each only when the action's args or environment are templated
 * ({@link carriesTemplates}).
 */
import { trimTrailingSlashes } from './text.js';

/**
 * A table's own entry for a name the command wrote: a command named `toString`, `constructor` or `__proto__` must
 * find nothing, not what every object inherits (`WRAPPER_TAILS["toString"]` was a function, and
 * `toString "$1"` was refused as a wrapper running a command named by data).
 */
function own<T>(table: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

export type ShellFindingKind = 'unquoted' | 'arithmetic' | 'reparse' | 'option' | 'unreadable';

export interface ShellFinding {
  kind: ShellFindingKind;
  /** The expansion, name or command as written (cut to 60 characters), or what could not be read. */
  text: string;
}

/** Nesting ($(…), backticks, ${…}, sh -c strings, here-documents) the reader follows before refusing. */
export const MAX_DEPTH = 16;

const MAX_FINDINGS = 10;
/** Parameters that are the shell's own numbers and flags, never data. */
const HARMLESS_SPECIALS = new Set(['?', '#', '$', '0', '!', '-']);
const SHELLS = new Set(['sh', 'bash', 'rbash', 'dash', 'zsh', 'ksh', 'ksh93', 'mksh', 'lksh', 'oksh', 'pdksh', 'ash', 'hush', 'yash', 'posh', 'fish', 'csh', 'tcsh']);
/** Run their `-c` string through a shell (sg its command word, `-c` or not). */
const C_RUNNERS = new Set(['su', 'runuser', 'flock', 'script', 'sg']);
/** Take a program in `-c`/`-e` (and read one from stdin without an operand). */
const INTERPRETERS = new Set(['python', 'python2', 'python3', 'perl', 'ruby', 'node', 'nodejs', 'php', 'lua', 'tclsh', 'expect']);
/** An interpreter's name, a version after it too (`python3.12`, `php8.2`, `lua5.4`, `perl5.36`, `tclsh8.6`): its key in {@link INTERPRETER_OPTIONS}, or undefined. */
function interpreterKey(b: string): string | undefined {
  const m = /^(python|perl|ruby|node|php|lua|tclsh|expect)[0-9][0-9.]*$/.exec(b);
  if (m !== null) return m[1];
  return INTERPRETERS.has(b) ? (b.startsWith('python') ? 'python' : b) : undefined;
}
const NODE_VALUES = ['--require', '--import', '--loader', '--experimental-loader', '--conditions', '--input-type', '--title', '--env-file', '--inspect-port', '--redirect-warnings', '--disable-warning', '--unhandled-rejections', '--icu-data-dir', '--openssl-config', '--watch-path', '--experimental-default-type', '--experimental-policy', '--experimental-sea-config', '--experimental-config-file', '--experimental-specifier-resolution', '--diagnostic-dir', '--report-dir', '--report-directory', '--report-filename', '--report-signal', '--stack-trace-limit', '--trace-event-categories', '--trace-event-file-pattern', '--secure-heap', '--secure-heap-min', '--heapsnapshot-signal', '--max-http-header-size', '--dns-result-order', '--tls-cipher-list', '--tls-keylog', '--use-largepages', '--run', '--test-reporter', '--test-reporter-destination', '--test-name-pattern'];
const NODE_FLAGS = ['--inspect', '--inspect-brk', '--inspect-wait', '--enable-source-maps', '--expose-gc', '--preserve-symlinks', '--preserve-symlinks-main', '--abort-on-uncaught-exception', '--throw-deprecation', '--pending-deprecation', '--trace-warnings', '--trace-deprecation', '--trace-uncaught', '--trace-exit', '--trace-sigint', '--trace-sync-io', '--trace-tls', '--use-strict', '--jitless', '--frozen-intrinsics', '--zero-fill-buffers', '--watch', '--watch-preserve-output', '--test', '--check', '--interactive', '--version', '--help', '--v8-options', '--prof', '--prof-process', '--cpu-prof', '--heap-prof', '--insecure-http-parser', '--report-on-fatalerror', '--report-uncaught-exception', '--report-on-signal', '--report-compact', '--force-fips', '--enable-fips', '--use-openssl-ca', '--use-bundled-ca', '--node-memory-debug', '--completion-bash', '--build-snapshot', '--allow-addons', '--allow-child-process', '--allow-wasi', '--allow-worker', '--permission', '--harmony'];
/**
 * What each interpreter's options are, so that the word after one is known to be its value, its program, or
 * neither: `flags` take no value; `joined` letters take the rest of their word only (perl's `-i.bak`, `-MPOSIX`);
 * `then` letters take what their pattern matches after them and the cluster goes on (perl's `-0777ne`, `-lne`,
 * `-de`, `-CSe`; ruby's `-W0e`, `-Kue`, `-0e`); `values` take the rest of the word or the next one and name no
 * program (`python3 -W ignore -c …`: `ignore` is no script); `code` take a program (a cluster ending in one:
 * `perl -ne '…'`); `module` a module run as the program (`python3 -m x`); `file` the script's file, options read
 * on after it and the operands its arguments (expect's `-f file`, `-b file`). `words`: the interpreter has no
 * clusters, each short option is a word of its own (node's `-pe` is `--print --eval`: the next word is the program).
 * Each interpreter's own letters: python's -E and lua's -E ignore the environment, perl's -c checks and -p loops,
 * node's -c checks, ruby's and node's -r load a library (`python3 -E -c "$1"`, `perl -c -e "$1"` read `-c`, `-e`
 * as the program). An option none of these lists may take the next word: the word after it may be its value or the
 * script, so options are read on past it (`node --some-new-flag x -e "$1"` reads `-e`), and one from data is refused.
 */
interface InterpreterOptions {
  flags: string;
  joined?: string;
  then?: Readonly<Record<string, RegExp>>;
  words?: boolean;
  values: string;
  code: string;
  module?: string;
  file?: string;
  longFlags?: readonly string[];
  longFlagPrefixes?: readonly string[];
  longValues?: readonly string[];
  longCode?: readonly string[];
}
const NODE_OPTIONS: InterpreterOptions = { words: true, flags: 'cihv', values: 'rC', code: 'ep', longFlags: NODE_FLAGS, longFlagPrefixes: ['--no-', '--experimental-', '--harmony-'], longValues: NODE_VALUES, longCode: ['--eval', '--print'] };
const INTERPRETER_OPTIONS: Record<string, InterpreterOptions> = {
  python: { flags: 'bBdEhiIOPqsSuvVx3tR?', values: 'WXQ', code: 'c', module: 'm', longFlags: ['--version', '--help', '--help-env', '--help-xoptions', '--help-all'], longValues: ['--check-hash-based-pycs'] },
  perl: { flags: 'acfhnpsStTuUvwWX', joined: 'DFimMVx', then: { 0: /^(?:[xX][0-9A-Fa-f]*|[0-9]*)/, l: /^[0-9]*/, d: /^t?(?:[:=].*)?/, C: /^(?:[0-9]+|[IOESioDALa]*)/ }, values: 'I', code: 'eE', longFlags: ['--version', '--help'] },
  ruby: { flags: 'acdlnpsSvwyhU', joined: 'Fix', then: { 0: /^[0-7]*/, W: /^(?::.*|[0-9]*)/, T: /^[0-9]*/, K: /^.?/s }, values: 'CEIr', code: 'e', longFlags: ['--version', '--verbose', '--copyright', '--help', '--yydebug', '--jit', '--yjit', '--rjit'], longFlagPrefixes: ['--disable-', '--enable-', '--jit-', '--yjit-', '--rjit-'], longValues: ['--encoding', '--external-encoding', '--internal-encoding'] },
  node: NODE_OPTIONS,
  nodejs: NODE_OPTIONS,
  // php's -f names the script's file, and php reads options on after it (`php -f x.php "$1"` with `-B…` ran it).
  php: { flags: 'aCehHilmnqsvw', values: 'dcztSF', code: 'rBRE', file: 'f', longFlags: ['--interactive', '--no-chdir', '--no-php-ini', '--profile-info', '--hide-args', '--info', '--syntax-check', '--modules', '--syntax-highlight', '--version', '--help', '--strip', '--ini', '--file'], longValues: ['--php-ini', '--define', '--process-file', '--server', '--docroot', '--zend-extension', '--rf', '--rc', '--re', '--rz', '--ri'], longCode: ['--run', '--process-begin', '--process-code', '--process-end'] },
  lua: { flags: 'ivEW', values: 'l', code: 'e' },
  expect: { flags: 'dinNv', values: 'D', code: 'c', file: 'fb' },
  tclsh: { flags: '', values: '', code: '', longValues: ['-encoding'] },
};

/**
 * One option word of an interpreter (see {@link InterpreterOptions}): a flag, an option taking a value or a
 * program (`joined` when the value is in the word), or one the lists do not know.
 */
function interpreterOption(text: string, spec: InterpreterOptions): { kind: 'flag' | 'unknown' } | { kind: 'value' | 'code' | 'module' | 'file'; joined: boolean } {
  const long = text.startsWith('--') || spec.longValues?.includes(text) === true;
  if (long) {
    const eq = text.indexOf('=');
    const name = eq === -1 ? text : text.slice(0, eq);
    if (spec.longCode?.includes(name)) return { kind: 'code', joined: eq !== -1 };
    if (spec.longValues?.includes(name)) return { kind: 'value', joined: eq !== -1 };
    if (spec.longFlags?.includes(name) || spec.longFlagPrefixes?.some((p) => name.startsWith(p))) return { kind: 'flag' };
    // `--name=value`: its value is in the word; `--name` may take the next.
    return eq !== -1 ? { kind: 'flag' } : { kind: 'unknown' };
  }
  if (spec.words === true) {
    // `-e`, `-pe`, `-r=x`: the option's name is the word up to an `=`.
    const eq = text.indexOf('=');
    const name = eq === -1 ? text : text.slice(0, eq);
    const joined = eq !== -1;
    if (name === '-pe' || (name.length === 2 && spec.code.includes(name[1]!))) return { kind: 'code', joined };
    if (name.length === 2 && spec.values.includes(name[1]!)) return { kind: 'value', joined };
    return name.length === 2 && spec.flags.includes(name[1]!) ? { kind: 'flag' } : { kind: 'unknown' };
  }
  for (let c = 1; c < text.length; c++) {
    const letter = text[c]!;
    const joined = c + 1 < text.length;
    if (spec.code.includes(letter)) return { kind: 'code', joined };
    if (spec.module?.includes(letter)) return { kind: 'module', joined };
    if (spec.file?.includes(letter)) return { kind: 'file', joined };
    if (spec.values.includes(letter)) return { kind: 'value', joined };
    if (spec.joined?.includes(letter)) return { kind: 'flag' };
    const then = own(spec.then, letter);
    if (then !== undefined) {
      // `-0777`, `-0x1F` (perl's -0 takes hexadecimal after an x), `-l015`, `-dt:Trace`, `-W2`, `-Ku`.
      c += then.exec(text.slice(c + 1))![0].length;
      continue;
    }
    if (!spec.flags.includes(letter)) return { kind: 'unknown' };
  }
  return { kind: 'flag' };
}
const AWKS = new Set(['awk', 'gawk', 'mawk', 'nawk']);
/** sed under its names (GNU sed is `gsed` where the system's own is BSD's). */
const SEDS = new Set(['sed', 'gsed']);
/** tar under its names: their first word may be old-style letters (`tar xf x.tar`). */
const TARS = new Set(['tar', 'gtar', 'bsdtar']);
/** xargs under its names (GNU xargs is `gxargs` where the system's own is BSD's, as for `gsed` and `gtar`). */
const XARGS = new Set(['xargs', 'gxargs']);
/** Hand their arguments to a (remote or local) shell. */
const SHELL_ARGS = new Set(['ssh', 'scp', 'rsync', 'watch']);
/** Run the command in their arguments: a shell or interpreter named after them is a command. */
const WRAPPERS = new Set([
  'sudo', 'doas', 'env', 'nice', 'nohup', 'timeout', 'exec', 'command', 'builtin', 'xargs', 'gxargs', 'setsid', 'stdbuf', 'ionice', 'chroot',
  'find', 'flock', 'time', 'busybox', 'unshare', 'nsenter', 'chpst', 'runcon', 'systemd-run', 'strace', 'parallel', 'taskset', 'chrt', 'su', 'runuser',
  'prlimit', 'numactl', 'cgexec', 'setpriv', 'pkexec', 'sshpass', 'fakeroot', 'firejail', 'proxychains', 'proxychains4', 'torsocks', 'valgrind', 'ltrace',
  'catchsegv', 'daemonize', 'chronic', 'unbuffer', 'sg', 'capsh', 'bwrap', 'sandbox',
  // Run a command inside a container, namespace or machine: a shell or interpreter in their words is one.
  'docker', 'podman', 'nerdctl', 'kubectl', 'oc', 'crictl', 'lxc-attach', 'lxc', 'incus', 'machinectl', 'systemd-nspawn', 'ip', 'toolbox', 'distrobox',
]);
/**
 * Wrappers whose tail is a command, with the options that take a separate argument and how many operands come
 * before the command: the word found there is the command, and a command named by data is refused
 * (`timeout 5 "$1"`, `sudo -u app "$c"`). `assignments`: `NAME=value` words before the command are the
 * command's environment (`env GIT_SSH_COMMAND="$1" git …`). `none`: options after which there is no command.
 * `code`: options whose value, given data, is code (systemd-run's `-p ExecStartPre=…`); `environment`: options whose
 * value is `NAME=value` for the command's environment, checked as an assignment (`-E LD_PRELOAD=…`).
 */
interface WrapperTail {
  args: string[];
  operands?: number;
  assignments?: boolean;
  none?: string[];
  code?: string[];
  environment?: string[];
}
const XARGS_TAIL: WrapperTail = { args: ['-a', '-d', '-E', '-I', '-L', '-n', '-P', '-s', '--arg-file', '--delimiter', '--max-args', '--max-procs', '--max-chars', '--max-lines', '--process-slot-var'] };
const WRAPPER_TAILS: Record<string, WrapperTail> = {
  sudo: { args: ['-u', '-g', '-h', '-p', '-C', '-D', '-r', '-t', '-T', '-U', '-R', '--user', '--group', '--host', '--prompt', '--close-from', '--chdir', '--role', '--type', '--command-timeout', '--other-user', '--chroot'], assignments: true, none: ['-l', '-v', '-k', '-K', '-e', '--list', '--validate', '--edit'] },
  doas: { args: ['-u', '-C'] },
  // GNU env's -a/--argv0 (coreutils 9.5), FreeBSD's -P, -L and -U take a value too.
  env: { args: ['-u', '-C', '-a', '-P', '-L', '-U', '--unset', '--chdir', '--argv0', '-S', '--split-string'], assignments: true },
  nice: { args: ['-n', '--adjustment'] },
  nohup: { args: [] },
  timeout: { args: ['-s', '-k', '--signal', '--kill-after'], operands: 1 },
  stdbuf: { args: ['-i', '-o', '-e', '--input', '--output', '--error'] },
  setsid: { args: [] },
  ionice: { args: ['-c', '-n', '--class', '--classdata'], none: ['-p', '--pid', '-P', '--pgid', '-u', '--uid'] },
  chroot: { args: ['--userspec', '--groups'], operands: 1 },
  flock: { args: ['-w', '-E', '--timeout', '--wait', '--conflict-exit-code'], operands: 1 },
  taskset: { args: [], operands: 1, none: ['-p', '--pid'] },
  chrt: { args: ['-T', '-P', '-D', '--sched-runtime', '--sched-period', '--sched-deadline'], operands: 1, none: ['-p', '--pid'] },
  runuser: { args: ['-u', '-g', '-G', '--user', '--group', '--supp-group'] },
  xargs: XARGS_TAIL,
  gxargs: XARGS_TAIL,
  time: { args: ['-f', '-o', '--format', '--output'] },
  nsenter: { args: ['-t', '-S', '-G', '--target', '--setuid', '--setgid'] },
  unshare: { args: ['-S', '-G', '-R', '-w', '--setuid', '--setgid', '--root', '--wd'] },
  chpst: { args: ['-u', '-U', '-b', '-e', '-n', '-l', '-L', '-m', '-d', '-o', '-p', '-f', '-c', '-r', '-t'] },
  strace: { args: ['-e', '-o', '-p', '-s', '-u', '-E', '-a', '-b', '-I', '-X', '-P', '-O', '-S'] },
  ltrace: { args: ['-e', '-o', '-p', '-s', '-u', '-a', '-n', '-A', '-D', '-F', '-l', '-x', '-L', '-w'] },
  prlimit: { args: ['-p', '--pid', '-o', '--output'] },
  numactl: { args: ['-i', '-N', '-m', '-C', '-p', '--interleave', '--cpunodebind', '--membind', '--physcpubind', '--preferred'] },
  cgexec: { args: ['-g'] },
  setpriv: { args: ['--reuid', '--regid', '--groups', '--inh-caps', '--ambient-caps', '--bounding-set', '--securebits', '--pdeathsig', '--selinux-label', '--apparmor-profile', '--landlock-access', '--landlock-rule'] },
  pkexec: { args: ['--user'] },
  sshpass: { args: ['-p', '-f', '-d', '-e', '-P'] },
  fakeroot: { args: ['-l', '-s', '-i', '--lib', '--faked'] },
  torsocks: { args: ['-u', '-p', '-a', '-P'] },
  proxychains: { args: ['-f'] },
  proxychains4: { args: ['-f'] },
  chronic: { args: [] },
  unbuffer: { args: [] },
  catchsegv: { args: [] },
  daemonize: { args: ['-a', '-c', '-e', '-E', '-l', '-o', '-p', '-u'] },
  busybox: { args: [] },
  parallel: { args: ['-j', '--jobs', '-S', '--sshlogin', '-a', '--arg-file', '-d', '--delimiter', '-I', '-C', '--colsep'] },
  valgrind: { args: [] },
  // systemd-run runs its command in a transient unit: a unit property may be a command (`-p ExecStartPre=…`,
  // `--timer-property`…) or the environment (`-p Environment=…`), and `-E NAME=value` sets the command's. No
  // property is text only: the manager writes each into the unit's file under /run/systemd/transient as
  // `Name=value`, a newline in the value included (systemd's unit_write_setting), so a description from data
  // (`-p "Description=$1"`, `--description "$1"`) adds lines, `ExecStartPre=` among them, read at the next reload.
  'systemd-run': {
    args: ['-u', '--unit', '-p', '--property', '--description', '--slice', '--service-type', '--uid', '--gid', '--nice', '--working-directory', '-E', '--setenv', '--path-property', '--socket-property', '--timer-property', '--on-active', '--on-boot', '--on-startup', '--on-unit-active', '--on-unit-inactive', '--on-calendar', '-H', '--host', '-M', '--machine', '--expand-environment', '-C', '--capsule'],
    none: ['-S', '--shell'],
    code: ['-p', '--property', '--description', '--path-property', '--socket-property', '--timer-property'],
    environment: ['-E', '--setenv'],
  },
};
/**
 * git's revision options that take the next word as their value (revision.c's parse_long_opt and `-n`): `git log
 * --since "$1"` reads the data as a date (`--since --end-of-options "$1"` printed nothing, git 2.39).
 */
const REVISION_VALUES = ['-n', '--max-count', '--skip', '--since', '--after', '--until', '--before', '--max-age', '--min-age', '--author', '--committer', '--grep'];
/**
 * git's subcommands that read {@link REVISION_VALUES}: the revision walk takes each such option whole and alone in its
 * word, neither cut short nor in a cluster (`git log --sin X`, `-pn X`: unrecognized, after X was read as an option,
 * and `--output=FILE` there created FILE, git 2.39).
 */
const REVISION_WALKERS = new Set(['log', 'show', 'whatchanged', 'rev-list']);
/** git subcommands whose every option only changes what they print (git-rev-parse(1) lists none that writes or runs). */
const GIT_PRINTERS = new Set(['rev-parse']);
/** git filter-branch's options whose value is shell code it evaluates. */
const FILTER_BRANCH_FILTERS = ['--setup', '--env-filter', '--tree-filter', '--index-filter', '--parent-filter', '--msg-filter', '--commit-filter', '--tag-name-filter'];
interface OptionProgram {
  args: readonly string[];
  code?: readonly string[];
  subcommands?: Record<string, readonly string[]>;
  subcommandCode?: Record<string, readonly string[]>;
}
/** The options of a program (or a subcommand): `code` take a command or code as their value, `values` any other value. */
interface OptionLists {
  code?: readonly string[];
  values?: readonly string[];
}
/**
 * An {@link OPTION_PROGRAMS} entry from its lists, so that an option whose value is code is always one taking a
 * value: `args` is `code` then `values` (a long option cut short that may name either is read as the code one).
 */
function options(lists: OptionLists & { subcommands?: Record<string, OptionLists> }): OptionProgram {
  const args = (l: OptionLists) => [...(l.code ?? []), ...(l.values ?? [])];
  const program: OptionProgram = { args: args(lists), ...(lists.code === undefined ? {} : { code: lists.code }) };
  if (lists.subcommands !== undefined) {
    const subs = Object.entries(lists.subcommands);
    program.subcommands = Object.fromEntries(subs.map(([name, l]) => [name, args(l)]));
    program.subcommandCode = Object.fromEntries(subs.filter(([, l]) => l.code !== undefined).map(([name, l]) => [name, l.code!]));
  }
  return program;
}
// GNU tar (argp, permutes): --to-command=CMD and --checkpoint-action=exec=CMD run CMD, -I/--use-compress-program
// and -F/--info-script a program, --rsh-command a remote shell (`tar -xf x.tar "$1"` with `--to-command=id` ran id).
const GNU_TAR = options({ code: ['--to-command', '--checkpoint-action', '-I', '--use-compress-program', '-F', '--info-script', '--new-volume-script', '--rsh-command', '--rmt-command'], values: ['-g', '-C', '-T', '-X', '-f', '-L', '-b', '-H', '-V', '-K', '-N', '--listed-incremental', '--hole-detection', '--level', '--sparse-version', '--add-file', '--directory', '--exclude', '--exclude-ignore', '--exclude-ignore-recursive', '--exclude-tag', '--exclude-tag-all', '--exclude-tag-under', '--files-from', '--exclude-from', '--group', '--group-map', '--mode', '--mtime', '--owner', '--owner-map', '--sort', '--xattrs-exclude', '--xattrs-include', '--file', '--tape-length', '--volno-file', '--blocking-factor', '--record-size', '--format', '--pax-option', '--label', '--starting-file', '--newer-mtime', '--newer', '--suffix', '--strip-components', '--transform', '--index-file', '--no-quote-chars', '--quote-chars', '--quoting-style', '--warning'] });
// GNU sed (permutes): -e SCRIPT adds a script, whose `e` command runs a command, and makes the first operand
// a file (`sed -n p "$1"` with `-e1e id` ran id); -i edits its files in place.
const GNU_SED = options({ values: ['-e', '-f', '-l', '--expression', '--file', '--line-length'] });
// libarchive's bsdtar (macOS, FreeBSD; `bsdtar` on Linux): --use-compress-program=PROG runs PROG, -f and -C write where
// they say, -s renames; only the options known to take a value are listed (its -L, -H, -g, -V, -N are no GNU tar's).
const BSD_TAR = options({ code: ['--use-compress-program'], values: ['-b', '-C', '-f', '-I', '-s', '-T', '-W', '-X', '--cd', '--directory', '--exclude', '--exclude-from', '--file', '--files-from', '--format', '--include', '--newer', '--newer-than', '--newer-mtime', '--newer-mtime-than', '--older', '--older-than', '--older-mtime', '--older-mtime-than', '--options', '--strip-components', '--uid', '--gid', '--uname', '--gname'] });
const COPIERS = options({ values: ['-S', '-t', '--suffix', '--target-directory', '--sparse', '--no-preserve'] });
/**
 * Programs with options that run a command or write a file, where a word starting with data (`"$1"`, `"$x"`,
 * `"$(…)"`) is read as an option when the data starts with `-`: double quotes keep it one word, not an operand.
 * Each entry lists (see {@link options}) the options taking a separate value (as {@link WRAPPER_TAILS}' do: the word
 * after one is its value, never an option): `code` those whose value is a command or code (data there is `reparse`:
 * `tar --to-command="$1"`), `values` the others; `subcommands` each subcommand's own, the same way. Each of these
 * programs reads options anywhere before `--` (GNU getopt permutes the words).
 * Each entry says which option runs or writes what, and each was tried with a `"$1"` holding it.
 */
/** {@link OPTION_PROGRAMS}' options whose value is a file of options or code the program reads. */
const CODE_FILE_OPTIONS: Record<string, readonly string[]> = { curl: ['-K', '--config'], wget: ['--config'], psql: ['-f', '--file'] };
/**
 * SQL clients that read their SQL from stdin unless one of these options gives it: data there is SQL, whose `\!`
 * (psql) or `system` (mysql, mariadb) runs a shell command (`echo "$1" | psql`, `mysql app < "$1"`).
 */
const STDIN_SQL: Record<string, readonly string[]> = { psql: ['-c', '--command', '-f', '--file'], mysql: ['-e', '--execute'], mariadb: ['-e', '--execute'] };
/** A file SQL includes: psql's `\i`, `\ir`, `\include`, `\include_relative`, mysql's `source` and `\.` (quoted or not). */
const SQL_INCLUDES = /(\\i|\\ir|\\include|\\include_relative|\\\.|\bsource)\s+(?:'([^']*)'|([^\s;'\\]+))/gi;
/** psql's meta-commands that run a shell command or an editor, set a shell's environment, or run what a query prints as SQL (`\gexec`). */
const PSQL_RUNNERS = new Set(['!', 'e', 'edit', 'ef', 'ev', 'setenv', 'gexec']);
/** psql's meta-commands that write what psql prints (or the query, or the history) to a file they name, or pipe it to a command (`\o |cmd`). */
const PSQL_WRITERS = new Set(['o', 'out', 'g', 'gx', 'w', 'write', 's', 'lo_export']);
/** psql's meta-commands that read a file they name. */
const PSQL_READERS = new Set(['i', 'ir', 'include', 'include_relative', 'lo_import']);
/** Programs whose first operand is a file's mode, owner, group or capabilities (the value data must not choose). */
const PERMISSION_SETTERS = new Set(['chmod', 'chown', 'chgrp', 'setcap']);
/** SQL and database shells whose input can run shell commands (sqlite3's `.shell`/`.system`, mongosh's `require`). */
const SQL_SHELLS = new Set(['sqlite3', 'sqlite', 'mongosh', 'mongo']);
/** sqlite3's options that take a value (it reads `-x` and `--x` alike): `-cmd` runs it, `-init` runs its file. */
const SQLITE_VALUES = ['-cmd', '-init', '-separator', '-newline', '-nullvalue', '-vfs', '-maxsize', '-mmap', '-lookaside', '-pagecache', '-heap', '-escape', '-zip-a'];
/** mongosh's (and the legacy mongo shell's) options that take a value: `--eval` runs it, `-f`/`--file` runs its file. */
const MONGO_VALUES = ['-eval', '-f', '-file', '-u', '-username', '-p', '-password', '-host', '-port', '-authenticationDatabase', '-authenticationMechanism', '-tlsCAFile', '-tlsCertificateKeyFile', '-tlsCertificateKeyFilePassword', '-apiVersion', '-awsAccessKeyId', '-awsSecretAccessKey', '-awsSessionToken', '-gssapiServiceName', '-sspiHostnameCanonicalization', '-sspiRealmOverride', '-keyVaultNamespace', '-kmsURL', '-cryptSharedLibPath', '-json'];
/**
 * SQL clients' options that write what they print (or log) to a file: with data in the command, a file written with
 * data, like curl's -o (`psql -v h="$1" -At -o /etc/cron.d/heal <<'SQL'` … `select :'h';` writes the value there).
 */
const SQL_OUTPUTS: Record<string, readonly string[]> = { psql: ['-o', '--output', '-L', '--log-file'], mysql: ['--tee'], mariadb: ['--tee'] };
// MySQL's and MariaDB's client (my_getopt reads options after operands too): -e/--execute and --init-command run SQL
// (`system …` runs a shell command), --pager runs a command through a shell, --defaults-file and --defaults-extra-file
// read options from a file (a `pager=` line), --tee writes a file; -p and --password take a value only joined to them.
const MYSQL = options({
  code: ['-e', '--execute', '--init-command', '--pager', '--defaults-file', '--defaults-extra-file', '--defaults-group-suffix', '--plugin-dir', '--login-path'],
  values: ['-h', '-u', '-P', '-D', '-S', '--host', '--user', '--port', '--database', '--socket', '--tee', '--default-character-set', '--protocol', '--connect-timeout', '--max-allowed-packet', '--net-buffer-length', '--bind-address', '--delimiter', '--prompt', '--ssl-ca', '--ssl-capath', '--ssl-cert', '--ssl-key', '--ssl-cipher', '--ssl-mode', '--character-sets-dir', '--default-auth', '--server-public-key-path', '--load-data-local-dir'],
});
const OPTION_PROGRAMS: Record<string, OptionProgram> = {
  // GNU tar, also as `gtar` (where the system's own tar is BSD's); libarchive's bsdtar reads fewer options.
  tar: GNU_TAR,
  gtar: GNU_TAR,
  bsdtar: BSD_TAR,
  // GNU sed, also as `gsed`.
  sed: GNU_SED,
  gsed: GNU_SED,
  // GNU sort (permutes): -o FILE writes FILE, --compress-program=PROG runs PROG (both tried).
  sort: options({ code: ['--compress-program'], values: ['-k', '-t', '-o', '-S', '-T', '--random-source', '--sort', '--batch-size', '--files0-from', '--key', '--output', '--buffer-size', '--field-separator', '--temporary-directory', '--parallel'] }),
  // git (its parse-options permute): log/diff/show's --output=FILE writes FILE (tried), grep's -O/--open-files-in-pager=CMD
  // runs CMD (tried), fetch/pull/clone's --upload-pack=CMD runs CMD, and `-c core.pager=…`/`-c core.fsmonitor=…`
  // before the subcommand runs one. The subcommands' options taking a value are listed where everyday with data.
  git: options({
    // --exec-path=DIR runs the subcommand's program from DIR (without a value it prints the path).
    code: ['-c', '--config-env', '--exec-path'],
    values: ['-C', '--git-dir', '--work-tree', '--namespace', '--super-prefix', '--attr-source'],
    // The subcommands' options whose value is a command (each with a `"$1"` holding `touch PWN`, git 2.39: grep,
    // fetch, clone -c core.sshCommand=…, rebase, push) or config that runs one (clone -c); git's own -c is read
    // before the subcommand only (`switch -c "fix-$1"` names a branch).
    subcommands: {
      // The revision walk's options taking the next word as their value (log's own options, read before them, run nothing).
      log: { values: REVISION_VALUES },
      show: { values: REVISION_VALUES },
      whatchanged: { values: REVISION_VALUES },
      'rev-list': { values: REVISION_VALUES },
      commit: { values: ['-m', '--message'] },
      // git-lfs (an external command: git runs `git-lfs` before it looks for an alias): -I/-X take path patterns.
      lfs: { values: ['-I', '--include', '-X', '--exclude'] },
      tag: { values: ['-m', '--message'] },
      // -s/--strategy NAME runs the program `git-merge-NAME` (from the exec path or PATH): data names a program.
      merge: { code: ['-s', '--strategy'], values: ['-m', '--message'] },
      'cherry-pick': { code: ['--strategy'] },
      revert: { code: ['--strategy'] },
      stash: { values: ['-m', '--message'] },
      grep: { code: ['-O', '--open-files-in-pager'], values: ['-e'] },
      checkout: { values: ['-b', '-B'] },
      switch: { values: ['-c', '-C', '--create', '--force-create'] },
      fetch: { code: ['--upload-pack'] },
      pull: { code: ['--upload-pack', '-s', '--strategy'] },
      'ls-remote': { code: ['--upload-pack'] },
      // --template=DIR copies DIR's hooks into the new repository, where git runs them (clone's checkout does).
      clone: { code: ['-u', '--upload-pack', '-c', '--config', '--template'] },
      init: { code: ['--template'] },
      push: { code: ['--receive-pack', '--exec'] },
      archive: { code: ['--exec'] },
      difftool: { code: ['-x', '--extcmd'] },
      rebase: { code: ['-x', '--exec', '-s', '--strategy'] },
      // filter-branch evaluates each filter as shell code (`--tree-filter="rm -f $1"`).
      'filter-branch': { code: FILTER_BRANCH_FILTERS },
    },
  }),
  // curl (permutes): -o/--output FILE, -D/--dump-header, -c/--cookie-jar, --libcurl, --trace write files (tried: -o),
  // -K/--config FILE reads more options from a file: a file data names is options data chose (`output`, `-o`…).
  curl: options({ code: ['-K', '--config'], values: ['-E', '-C', '-b', '-c', '-d', '-D', '-F', '-P', '-H', '-h', '-m', '-o', '-U', '-Q', '-r', '-e', '-X', '-Y', '-y', '-t', '-z', '-T', '-u', '-A', '-w', '-x', '--abstract-unix-socket', '--alt-svc', '--aws-sigv4', '--cacert', '--capath', '--cert', '--cert-type', '--ciphers', '--connect-timeout', '--connect-to', '--continue-at', '--cookie', '--cookie-jar', '--create-file-mode', '--crlfile', '--curves', '--data', '--data-ascii', '--data-binary', '--data-raw', '--data-urlencode', '--delegation', '--dns-interface', '--dns-ipv4-addr', '--dns-ipv6-addr', '--dns-servers', '--doh-url', '--dump-header', '--egd-file', '--engine', '--etag-compare', '--etag-save', '--expect100-timeout', '--form', '--form-string', '--ftp-account', '--ftp-alternative-to-user', '--ftp-method', '--ftp-port', '--ftp-ssl-ccc-mode', '--happy-eyeballs-timeout-ms', '--header', '--help', '--hostpubmd5', '--hostpubsha256', '--hsts', '--interface', '--json', '--keepalive-time', '--key', '--key-type', '--krb', '--libcurl', '--limit-rate', '--local-port', '--login-options', '--mail-auth', '--mail-from', '--mail-rcpt', '--max-filesize', '--max-redirs', '--max-time', '--netrc-file', '--noproxy', '--oauth2-bearer', '--output', '--output-dir', '--parallel-max', '--pass', '--pinnedpubkey', '--proto', '--proto-default', '--proto-redir', '--proxy', '--proxy-cacert', '--proxy-capath', '--proxy-cert', '--proxy-cert-type', '--proxy-ciphers', '--proxy-crlfile', '--proxy-header', '--proxy-key', '--proxy-key-type', '--proxy-pass', '--proxy-pinnedpubkey', '--proxy-service-name', '--proxy-tls13-ciphers', '--proxy-tlsauthtype', '--proxy-tlspassword', '--proxy-tlsuser', '--proxy-user', '--pubkey', '--quote', '--random-file', '--range', '--rate', '--referer', '--request', '--request-target', '--resolve', '--retry', '--retry-delay', '--retry-max-time', '--sasl-authzid', '--service-name', '--socks4', '--socks4a', '--socks5', '--socks5-gssapi-service', '--socks5-hostname', '--speed-limit', '--speed-time', '--stderr', '--telnet-option', '--tftp-blksize', '--time-cond', '--tls-max', '--tls13-ciphers', '--tlsauthtype', '--tlspassword', '--tlsuser', '--trace', '--trace-ascii', '--unix-socket', '--upload-file', '--url', '--url-query', '--user', '--user-agent', '--write-out'] }),
  // GNU wget (permutes): -O/--output-document, -o/--output-file, -a/--append-output write FILE, -e/--execute runs a
  // .wgetrc command (`output_document=…`), --config=FILE reads such commands from FILE, --use-askpass=PROG runs PROG (tried).
  wget: options({ code: ['-e', '--execute', '--use-askpass', '--config'], values: ['-o', '-a', '-i', '-B', '-t', '-O', '-T', '-w', '-Q', '-P', '-U', '-l', '-A', '-R', '-D', '-I', '-X', '--output-file', '--append-output', '--input-file', '--base', '--tries', '--output-document', '--timeout', '--wait', '--quota', '--directory-prefix', '--user-agent', '--level', '--accept', '--reject', '--domains', '--include-directories', '--exclude-directories', '--report-speed', '--rejected-log', '--retry-on-http-error', '--start-pos', '--progress', '--dns-timeout', '--connect-timeout', '--read-timeout', '--waitretry', '--bind-address', '--limit-rate', '--restrict-file-names', '--prefer-family', '--user', '--password', '--local-encoding', '--remote-encoding', '--cut-dirs', '--http-user', '--http-password', '--default-page', '--header', '--compression', '--proxy-user', '--proxy-password', '--referer', '--load-cookies', '--save-cookies', '--post-data', '--post-file', '--method', '--body-data', '--body-file', '--secure-protocol', '--certificate', '--certificate-type', '--private-key', '--private-key-type', '--ca-certificate', '--ca-directory', '--crl-file', '--pinnedpubkey', '--ciphers', '--ftp-user', '--ftp-password', '--warc-file', '--warc-header', '--warc-max-size', '--warc-dedup', '--warc-tempdir', '--backups', '--accept-regex', '--reject-regex', '--regex-type', '--exclude-domains', '--follow-tags', '--ignore-tags'] }),
  // GNU cp, mv, ln and install (permute): -t DIR/--target-directory=DIR makes every operand a source put in DIR, the
  // last one too (`cp /opt/fix/job "$1"` with `-t/etc/cron.d` copied the job there, tried, coreutils 9.1), -S a backup's
  // suffix; install's --strip-program=PROG runs PROG (with -s).
  cp: COPIERS,
  mv: COPIERS,
  ln: COPIERS,
  // Its -m/--mode, -o/--owner and -g/--group from data are counted with the code ones: a mode `4755` with `-o root`
  // makes the installed program set-user-ID root, so data there chooses who runs it.
  install: options({ code: ['--strip-program', '-m', '--mode', '-o', '--owner', '-g', '--group'], values: ['-S', '-t', '--suffix', '--target-directory'] }),
  // Info-ZIP zip (reads options anywhere): -TT/--unzip-command=CMD runs CMD when it tests the archive (`zip -T`, tried),
  // -O/--output-file writes another archive. Its -i/-x take a list of words: none other is taken for a value here.
  // `-TT` (two letters) is read as `--unzip-command`.
  zip: options({ code: ['--unzip-command'] }),
  // psql (permutes): -c/--command '\! cmd' runs a shell command (tried), -f/--file FILE runs a file's SQL (`\!` in it
  // too: a file data names is code data chose), -o/-L FILE write.
  mysql: MYSQL,
  mariadb: MYSQL,
  psql: options({ code: ['-c', '--command', '-f', '--file'], values: ['-d', '-v', '-L', '-o', '-F', '-P', '-R', '-T', '-h', '-p', '-U', '--dbname', '--set', '--variable', '--log-file', '--output', '--field-separator', '--pset', '--record-separator', '--table-attr', '--host', '--port', '--username'] }),
};

/** Variables whose value the shell or the loader reads as code or as where code comes from. */
const CODE_VARIABLES =
  /^(PS[0-4]|PROMPT_COMMAND|BASH_ENV|ENV|PATH|SHELLOPTS|BASHOPTS|IFS|LD_[A-Z_]*|DYLD_[A-Z_]*|BASH_FUNC_.*|BASH_LOADABLES_PATH|EXECIGNORE|PSQLRC|PSQL_PAGER|PSQL_EDITOR|PYTHONPATH|PYTHONSTARTUP|PYTHONHOME|PYTHONINSPECT|PERL5LIB|PERLLIB|PERL5OPT|PERL5DB|NODE_OPTIONS|NODE_PATH|RUBYOPT|RUBYLIB|GIT_SSH|GIT_SSH_COMMAND|GIT_PROXY_COMMAND|GIT_ASKPASS|GIT_EDITOR|GIT_SEQUENCE_EDITOR|GIT_PAGER|GIT_EXTERNAL_DIFF|GIT_EXEC_PATH|GIT_TEMPLATE_DIR|GIT_CONFIG|GIT_CONFIG_GLOBAL|GIT_CONFIG_SYSTEM|GIT_CONFIG_PARAMETERS|GIT_CONFIG_COUNT|GIT_CONFIG_KEY_[0-9]+|GIT_CONFIG_VALUE_[0-9]+|SSH_ASKPASS|SUDO_ASKPASS|RSYNC_RSH|RSYNC_CONNECT_PROG|CVS_RSH|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|PAGER|MANPAGER|SYSTEMD_PAGER|SYSTEMD_EDITOR|EDITOR|VISUAL|BROWSER|LESSOPEN|LESSCLOSE|GCONV_PATH|SHELL)$/;
/**
 * Files other programs later read as code, as where code comes from, or as who may log in: data written there is
 * code, whoever runs it. Shell start-up files and profiles, cron, sudoers, systemd units, init scripts, ssh's
 * files, the loader's (`ld.so.preload`), logrotate's (`postrotate` scripts run as root), udev rules (`RUN+=`),
 * apt's configuration (`DPkg::Post-Invoke`), modprobe's (`install` lines run commands), PAM's (`pam_exec`),
 * python's `sitecustomize.py`/`usercustomize.py` and a site folder's `.pth` files (an `import` line runs). A bare
 * `.pth` name is one written relative to a folder the check cannot place (`cd …/dist-packages; … > fix.pth`).
 */
const CODE_FILES = new RegExp(
  [
    String.raw`(^|\/)(\.bashrc|\.bash_profile|\.bash_login|\.bash_logout|\.profile|\.zshrc|\.zshenv|\.zprofile|\.kshrc|\.gitconfig|authorized_keys|rc\.local|ld\.so\.preload|sitecustomize\.py|usercustomize\.py)$`,
    String.raw`^\/etc\/(cron|anacrontab$|profile|bash|sudoers|systemd\/|init\.d\/|ssh\/|ld\.so|environment$|logrotate\.(conf$|d\/)|udev\/rules\.d\/|apt\/apt\.conf|modprobe\.d\/|pam\.d\/|pam\.conf$)`,
    String.raw`^\/var\/spool\/cron`,
    String.raw`^\/(usr\/)?(local\/)?lib\/(systemd|udev\/rules\.d|modprobe\.d|pam\.d)\/`,
    String.raw`^\/run\/(systemd|udev\/rules\.d|modprobe\.d)\/`,
    String.raw`(^|\/)\.config\/systemd\/|(^|\/)\.ssh\/`,
    String.raw`\/(site|dist)-packages\/[^/]+\.pth$|^[^/]+\.pth$`,
  ].join('|'),
);
/**
 * A file of each kind {@link CODE_FILES} names, for a file data names (`"/etc/$2"` may name `/etc/cron.d/x`). A
 * last component `x…` stands for any name in its folder (or under it), ending as {@link sampleEndings} says.
 */
const CODE_FILE_SAMPLES = [
  '/etc/cron.d/x', '/etc/crontab', '/etc/anacrontab', '/etc/profile.d/x.sh', '/etc/bash.bashrc', '/etc/environment', '/etc/sudoers.d/x', '/etc/systemd/system/x.service',
  '/etc/init.d/x', '/etc/ssh/x', '/etc/ld.so.preload', '/etc/ld.so.conf.d/x.conf', '/etc/logrotate.d/x', '/etc/udev/rules.d/x.rules', '/etc/apt/apt.conf.d/x',
  '/etc/modprobe.d/x.conf', '/etc/pam.d/x', '/etc/rc.local', '/var/spool/cron/x', '/lib/systemd/system/x.service', '/usr/lib/systemd/system/x.service',
  '/usr/local/lib/systemd/system/x.service', '/lib/udev/rules.d/x.rules', '/usr/lib/udev/rules.d/x.rules', '/lib/modprobe.d/x.conf', '/usr/lib/modprobe.d/x.conf',
  '/usr/lib/pam.d/x', '/run/systemd/system/x.service', '/run/udev/rules.d/x.rules', '/usr/lib/python3/dist-packages/x.pth', '/usr/local/lib/python3/dist-packages/x.pth',
];

/** The files in a home read as code, as {@link CODE_FILE_SAMPLES} (of `.ssh/` the ones ssh and sshd read). */
const HOME_CODE_SAMPLES = ['.bashrc', '.bash_profile', '.bash_login', '.bash_logout', '.profile', '.zshrc', '.zshenv', '.zprofile', '.kshrc', '.gitconfig', '.ssh/authorized_keys', '.ssh/authorized_keys2', '.ssh/rc', '.ssh/environment', '.ssh/config', '.config/systemd/x.service'];

/**
 * How a sample's file `x.ext` may end: systemd reads units and drop-in `.conf` files (a name may go on into a
 * subfolder: `x.service.d/y.conf`), udev `.rules`, modprobe and the loader `.conf`, python `.pth`; any other
 * folder's files are all read (undefined).
 */
function sampleEndings(ext: string): readonly string[] | undefined {
  if (ext === '.service') return ['.service', '.socket', '.timer', '.target', '.path', '.mount', '.automount', '.swap', '.slice', '.conf'];
  return ext === '.rules' || ext === '.conf' || ext === '.pth' ? [ext] : undefined;
}

/** Whether a path written as `prefix`, then data, then `suffix` may be the sample's file (see {@link CODE_FILE_SAMPLES}). */
function mayBe(prefix: string, suffix: string, sample: string): boolean {
  const slash = sample.lastIndexOf('/') + 1;
  const m = /^x(\.[a-z]+)?$/.exec(sample.slice(slash));
  if (m === null) return sample.startsWith(prefix) && sample.length >= prefix.length + suffix.length && sample.endsWith(suffix);
  const folder = sample.slice(0, slash);
  const endings = sampleEndings(m[1] ?? '');
  return (folder.startsWith(prefix) || prefix.startsWith(folder)) && (endings === undefined || suffix === '' || endings.some((e) => suffix.endsWith(e) || e.endsWith(suffix)));
}

/**
 * Whether a file data names (`"/etc/cron.d/$2"`, `"/etc/$2"`, `"/root/$1.log"`) may be one read as code later:
 * written as `prefix` (the literal text before the data, an absolute path), the data, then `suffix` (the literal
 * text after it), it may be a file of {@link CODE_FILE_SAMPLES} or of a home (`/root/`, `/home/…/`, `/`: the data
 * may name the home). A name the literal text rules out is not (`"/etc/fstab.bak.$(date +%F)"`, `"/root/$1.log"`).
 */
function codeDataName(prefix: string, suffix: string): boolean {
  const slash = prefix.lastIndexOf('/') + 1;
  const p = (normalise(prefix.slice(0, slash)) === '/' ? '/' : `${normalise(prefix.slice(0, slash))}/`) + prefix.slice(slash);
  if (CODE_FILE_SAMPLES.some((x) => mayBe(p, suffix, x))) return true;
  let home: string | undefined;
  if (p.startsWith('/root/')) home = p.slice(6);
  else if (p.startsWith('/home/')) home = p.slice(6).includes('/') ? p.slice(6).slice(p.slice(6).indexOf('/') + 1) : '';
  else if ('/root/'.startsWith(p) || '/home/'.startsWith(p)) home = '';
  return home !== undefined && HOME_CODE_SAMPLES.some((x) => mayBe(home, suffix, x));
}

/** Whether data written to `path` is read as code later ({@link CODE_FILES}; an absolute path also once `//`, `.` and `..` are resolved). */
function codeFile(path: string): boolean {
  return CODE_FILES.test(path) || (path.startsWith('/') && CODE_FILES.test(normalise(path)));
}
/** Paths that name one of the command's descriptors (`/dev/fd/3`, `/proc/self/fd/3`): what the command put there. */
const FD_PATH = /^\/(dev|proc)(\/|$)/;
/** Stdin by name: `-`, or a path that resolves to `/dev/stdin`, `/dev/fd/0`, `/proc/…/fd/0`. */
function stdinPath(path: string): boolean {
  if (path === '-') return true;
  if (!path.startsWith('/')) return false;
  const p = normalise(path);
  return p === '/dev/stdin' || p === '/dev/fd/0' || /^\/proc\/[^/]+\/(task\/[^/]+\/)?fd\/0$/.test(p);
}
const RESERVED = new Set(['!', '{', '}', 'if', 'then', 'elif', 'else', 'fi', 'do', 'done', 'while', 'until', 'time', 'for', 'select', 'coproc']);
/** Reserved words that open a compound command: after `coproc NAME` one of these (or `{`, `(`) is its body. */
/** The reserved words that open and close a compound command whose output may be piped on (`case` and `esac` apart). */
const COMPOUND_OPENERS = new Set(['{', 'if', 'while', 'until', 'for', 'select', 'case']);
const COMPOUND_CLOSERS = new Set(['}', 'fi', 'done']);
const COMPOUND = new Set(['{', '(', '((', 'if', 'while', 'until', 'for', 'select', 'case', '[[']);
/**
 * Variables that hold the shell's own numbers (bash; unset or a plain number in dash): read in arithmetic
 * they evaluate no data, unless the command fills them itself or unsets one (see {@link Shared}).
 */
/**
 * Bash's own variables declared `-i`: `RANDOM="$1"` evaluates the value as arithmetic (a value `a[$(id)]`
 * runs `id`; tried on bash 5.2 for RANDOM, SRANDOM, OPTIND and HISTCMD).
 */
const BASH_INTEGERS = ['RANDOM', 'SRANDOM', 'SECONDS', 'BASHPID', 'OPTIND', 'HISTCMD', 'PPID', 'UID', 'EUID'];
const SHELL_NUMBERS = new Set(['RANDOM', 'SECONDS', 'LINENO', 'PPID', 'BASHPID', 'UID', 'EUID']);
/** `${#name}`: a length, always a number. */
const LENGTH = /^\$\{#(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*])\}$/;
/** An assignment word's start, unsubscripted (`name=`, `name+=`). */
const ASSIGNMENT_START = /[A-Za-z_][A-Za-z0-9_]*\+?=/y;
/** What may stand right before a redirection as the descriptor it redirects: digits, or bash's `{name}`. */
const IO_NUMBER = /^(?:[0-9]+|\{[A-Za-z_][A-Za-z0-9_]*\})$/;
const ARITH_TEST_OPS = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);
/** Sticky patterns, matched where the reader stands (see {@link matchAt}), not on a copy of the rest. */
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /[0-9][0-9A-Za-z_#@]*/y;
const BRACE_HEAD = /([#!]?)([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!0-])/y;
/** Ends a word outside quotes: the shell's blanks are space and tab only (a carriage return is part of a word). */
const METACHAR = /[ \t\n;&|<>()]/;

/** What the reader cannot follow: the command is refused, naming it. */
class Unreadable extends Error {}

/**
 * The files a command writes, kept so that a run is matched in constant time. Two paths may name the same
 * file when both are absolute and equal once `.`, `..` and repeated slashes are resolved, or otherwise (a
 * relative path, a `cd` between them, a `..` after a real component, which may go back through a symlink:
 * `/var/run/../tmp/x` is `/tmp/x` where `/var/run` links to `/run`) when their last components are equal.
 */
class Written {
  readonly paths: string[] = [];
  /** Files named by data (`"/etc/cron.d/$2"`): the literal text before and after the data, and the word as written. */
  readonly dataNames: { prefix: string; suffix: string; raw: string }[] = [];
  private readonly absolute = new Set<string>();
  private readonly relativeNames = new Set<string>();
  private readonly names = new Set<string>();
  private readonly onPath = new Set<string>();
  /** The folders holding a file written at an absolute path, each ancestor (`/tmp/d/f`: `/tmp/d`, `/tmp`, `/`). */
  private readonly absoluteFolders = new Set<string>();
  /** The folder names in the paths of files written (`d/f`, `/tmp/d/f`: `d`; `tmp` too), and in relative ones only. */
  private readonly folderNames = new Set<string>();
  private readonly relativeFolderNames = new Set<string>();

  add(path: string): void {
    this.paths.push(path);
    const name = lastComponent(path);
    this.names.add(name);
    const relative = !path.startsWith('/') || climbsBack(path);
    if (relative) this.relativeNames.add(name);
    if (climbsBack(path)) this.onPath.add(name);
    for (const folder of trimTrailingSlashes(path).split('/').slice(0, -1)) {
      this.folderNames.add(folder);
      if (relative) this.relativeFolderNames.add(folder);
    }
    if (path.startsWith('/')) {
      const normal = normalise(path);
      this.absolute.add(normal);
      for (let at = normal.lastIndexOf('/'); at > 0; at = normal.lastIndexOf('/', at - 1)) this.absoluteFolders.add(normal.slice(0, at));
      this.absoluteFolders.add('/');
      if (/^\/(usr\/)?(local\/)?s?bin\/[^/]+$/.test(normal)) this.onPath.add(name);
    }
  }

  /**
   * A file written, as its word: a literal path, a path built from data by its literal last component
   * (`"$HOME/x.sh"`: `x.sh`), or a file named by data in a literal folder (`"/etc/cron.d/$2"`, `"/etc/cron.d/x-$2"`).
   */
  addWord(w: Word): void {
    const path = writtenName(w);
    if (path !== undefined) this.add(path);
    else {
      const name = dataName(w);
      if (name !== undefined) this.dataNames.push({ ...name, raw: w.raw });
    }
  }

  /**
   * Whether the folder `path` holds a file written at an absolute path, or a glob of its files may name one
   * (`/tmp/d`, `/tmp/d/.`, `/tmp/d/*`: `cp -r /tmp/d/. /etc/cron.d/` copies it).
   */
  holds(path: string): boolean {
    // A glob in any component may name any folder there: the folder is the part before it (`/tmp/*/job`: /tmp).
    const parts = path.split('/');
    const glob = parts.findIndex((p) => /[*?[]/.test(p));
    const kept = glob === -1 ? path : parts.slice(0, glob).join('/');
    // A file written at a relative path, or a relative folder, is matched by the folder's name, as `has` matches
    // paths by their last name when either is relative (a `cd` may lie between): `echo "$1" > fix/job; cp -r /tmp/fix …`,
    // `cd /tmp && cp -r fix …`; `.`, `..` or a glob at the start hold anything written.
    if (!kept.startsWith('/') && glob !== 0) {
      const name = lastComponent(kept);
      return name === '' || name === '.' || name === '..' ? this.paths.length > 0 : this.folderNames.has(name);
    }
    const folder = normalise(kept === '' ? '/' : kept);
    if (folder === '/') return this.paths.length > 0;
    return this.absoluteFolders.has(folder) || this.relativeFolderNames.has(lastComponent(folder));
  }

  /** Whether `path` may be one of the files written (see the class); a bare name, one written to a folder of PATH. */
  has(path: string, bare = false): boolean {
    if (bare) return this.onPath.has(path);
    if (path.startsWith('/') && !climbsBack(path)) return this.absolute.has(normalise(path)) || this.relativeNames.has(lastComponent(path));
    return this.names.has(lastComponent(path));
  }
}

interface Tally {
  text: string;
  reads: Map<string, number>;
}

/** What every reader of one command shares. */
interface Shared {
  findings: ShellFinding[];
  /** Every text read (the command, `sh -c '…'` strings decoded, here-document bodies…), each with how often it reads each of {@link SHELL_NUMBERS} in arithmetic. */
  tallies: Tally[];
  /** Some command is `unset`: bash's RANDOM, SECONDS, LINENO and BASHPID lose their meaning when unset. */
  unsets: boolean;
  /** Somewhere the command feeds a descriptor: a pipe, an input redirection, a here-document or here-string, a process substitution, a coprocess. */
  feeds: boolean;
  /** A `cd` to a relative path, to data, to `/`, `/dev` or `/proc`: a relative script path may then name a descriptor (`cd /dev/fd; sh 3`). */
  cdAway: boolean;
  /** Programs read from a relative path: descriptors when {@link cdAway} and {@link feeds}. */
  relative: string[];
  /** Shells and interpreters that read their program from a descriptor they inherit (`{ sh; } <<< "$1"`, `sh /dev/fd/3`): refused when {@link feeds}. */
  inherits: string[];
  /** Paths of the files the command writes with content that is not literal text (`echo "$1" > /tmp/f`). */
  written: Written;
  /** Names of links the command makes to a descriptor's path (`ln -s /dev/stdin /tmp/s`): descriptors too. */
  fdLinks: Set<string>;
  /** Files the command runs as code (`sh f`, `. f`, `./f`, `awk -f f`, `sh < f`): refused when the command writes one ({@link Written}). */
  runs: { path: string; text: string; bare?: boolean }[];
  /** Functions that run their arguments as a command (`retry() { "$@"; }`), with the argument that names it. */
  runners: Map<string, number>;
  /** Functions that `shift` their arguments: any argument may name the command. */
  shifts: Set<string>;
  /** Simple commands with data in their arguments, by name: checked against {@link runners} at the end. */
  calls: { name: string; args: Word[] }[];
  /** Functions whose body holds a command carrying data: what a call prints may be data (`g() { printenv X; }; g | xargs tar …`). */
  dataFns: Set<string>;
  /** The commands of each function's body, with their reader: checked again as reading data on stdin when a call is piped data. */
  fnBodies: Map<string, { reader: Reader; cmd: Cmd }[]>;
  /** Commands run with data on their stdin, by name (`echo "$1" | f`): a function's body reads it ({@link Reader.checkPipedCalls}). */
  stdinCalls: string[];
  /** The bodies are being checked again: their commands are not recorded twice. */
  rechecking: boolean;
}

/** One word of a simple command: its value when it holds no expansion, and how many expansions it holds. */
interface Word {
  raw: string;
  literal: string | undefined;
  expansions: number;
  /** `find -exec`'s `{}` standing alone: a found file's path (never an option), whose name data may have made. */
  found?: boolean;
  /** An argument `xargs` makes of what it reads: the literal text before the data in it (see {@link xargsWords}). */
  lead?: string;
}

interface HereDoc {
  delimiter: string;
  stripTabs: boolean;
  quoted: boolean;
  /** Set once its body is read: the body expands something. */
  expands: boolean;
  body?: string;
}

interface Cmd {
  words: Word[];
  /** The last redirection of descriptor 0, if any. */
  stdin?: { kind: 'heredoc' | 'herestring' | 'file' | 'dup'; word?: Word };
  /** Literal targets of output redirections (`> f`, `>> f`, `&> f`). */
  writes: Word[];
  /** The pattern of a `case` item, not a command. */
  pattern?: boolean;
  /** The function whose body the command is in, if any: its `$1`, `$@` are the function's arguments. */
  fn?: string;
  heredocs: HereDoc[];
  /** Expansions in redirection targets (not arguments, still data on its way). */
  otherExpansions: number;
  /** Expansions in here-strings (`<<< "$1"`): data on its stdin. */
  stdinExpansions: number;
  /** Piped from a group, subshell, loop, `if` or `case` holding data (`{ echo "$1"; } | xargs tar …`): data on its stdin. */
  compoundInput?: boolean;
  /** In a group, loop, `if` or `case` piped data (`echo "$1" | { cd /srv && psql -d app; }`): data on its stdin. */
  groupInput?: boolean;
  /** Prints the environment or the shell's variables, where the data is, or is a function whose body carries data ({@link printsData}). */
  printsData?: boolean;
}

/** Whether a command carries data: in its words, redirections, stdin or here-documents. */
function carriesData(c: Cmd): boolean {
  return c.compoundInput === true || c.groupInput === true || c.printsData === true || c.words.some((w) => w.expansions > 0) || c.stdinExpansions > 0 || c.otherExpansions > 0 || c.heredocs.some((d) => d.expands);
}

/** The shell's declaration builtins: without a name to declare they print variables, the data's copies among them (`export -p`, `declare -p`). */
const VARIABLE_PRINTERS = new Set(['export', 'declare', 'typeset', 'readonly', 'local']);

/** A process's environment or command line (`/proc/self/environ`, `/proc/1/cmdline`): the `SELFHEAL_PARAM_*` values, the shell's arguments. */
function processFile(path: string): boolean {
  const name = lastComponent(path);
  if (name !== 'environ' && name !== 'cmdline') return false;
  return !path.startsWith('/') || climbsBack(path) || /^\/proc\//.test(normalise(path));
}

/**
 * Whether a command prints data without an expansion of its own: the environment, where the `SELFHEAL_PARAM_*` values
 * are (`printenv`, `env` without a command, a `/proc/…/environ` file; behind a wrapper too), the shell's variables
 * (`set`, `export -p`, `declare -p`: copies of the data), or a call of a function whose body carries data
 * (`g() { echo "$SELFHEAL_PARAM_X"; }; g | xargs tar …`). Errs towards refusing: any word `printenv` counts.
 */
function printsData(cmd: Cmd, dataFns: ReadonlySet<string>): boolean {
  const { words } = cmd;
  let i = 0;
  while (i < words.length && (isAssignment(words[i]!) || (words[i]!.raw === words[i]!.literal && RESERVED.has(words[i]!.raw)))) i++;
  const first = words[i];
  if (first === undefined) return false;
  const name = first.literal ?? '';
  if (dataFns.has(name)) return true;
  if (name === 'set' && i + 1 === words.length) return true;
  if (VARIABLE_PRINTERS.has(name) && words.slice(i + 1).every((w) => /^[-+]/.test(w.literal ?? ''))) return true;
  // `declare -p NAME`, `export -p NAME`: prints the variables named, whose values may be the data.
  if (VARIABLE_PRINTERS.has(name) && words.slice(i + 1).some((w) => /^-[A-Za-z]*p/.test(w.literal ?? ''))) return true;
  const stdin = cmd.stdin?.kind === 'file' ? cmd.stdin.word?.literal : undefined;
  if (stdin !== undefined && processFile(stdin)) return true;
  const envSpec = optionSpec(WRAPPER_TAILS.env!.args);
  for (let k = i; k < words.length; k++) {
    const l = words[k]!.literal;
    if (l === undefined) continue;
    if (processFile(l)) return true;
    const b = l.replace(/^.*\//, '');
    if (b === 'printenv') return true;
    if (b === 'env') {
      // `env`, `env -i`, `env A=1`: no command to run, so it prints the environment.
      let j = k + 1;
      while (j < words.length) {
        const x = words[j]!;
        if (x.literal === '--' || isAssignment(x)) j++;
        else if (/^-./.test(x.literal ?? '')) j = readOption(words, j, envSpec).end + 1;
        else break;
      }
      if (j >= words.length) return true;
      // The words read are options or assignments, never `env` itself: each is read once.
      k = j - 1;
    }
  }
  return false;
}

function matchAt(re: RegExp, text: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(text);
}

const cut = (s: string) => (s.length > 60 ? `${s.slice(0, 59)}…` : s);

/**
 * Reads one command string. Nested strings (backticks, `sh -c '…'`, `eval '…'`, here-document bodies) are
 * read by a reader of their own sharing the findings.
 */
class Reader {
  private pos = 0;
  /** The words being read neither split nor glob: an assignment word before the command, an operand of `[[ … ]]`. */
  private splitFree = false;
  private readonly pendingHeredocs: HereDoc[] = [];
  private readonly deferred: Cmd[][] = [];
  /** Names declared integer (`local -i n`), and bash's own: an assignment to them is arithmetic. */
  private integers = new Set<string>(BASH_INTEGERS);
  /** The words of an array assignment (`a=("$1" x)`): read for their expansions, not run. */
  private arrayWords = false;
  /** Names declared `-n` (name references): an assignment or a read into them fills the variable they name. */
  private refs = new Set<string>();
  /** Commands read so far (nested subshells' too) that carry data: a compound holding one prints data, maybe. */
  private dataCommands = 0;
  /** A subshell piped data (`echo "$1" | (xargs tar …)`): each of its pipelines may read it on stdin. */
  private stdinData = false;
  /** The function whose body this reader reads (`f() (…)`, or a `$(…)`, subshell or string inside a body): its commands read a call's stdin. */
  private bodyFn: string | undefined;
  /** The function whose body the reader is in at this point of its text (a `{ …; }` body inside it, or {@link bodyFn}). */
  private fnNow: () => string | undefined = () => this.bodyFn;
  /** The function whose body holds the command being checked: a string it hands to a shell is in the body too. */
  private checkingFn: string | undefined;

  private readonly tally: Tally;

  /**
   * `zeroIsData`: `$0` may carry data (an `sh -c '…'` string whose first operand does). `tally`: the text
   * whose shell numbers this reader reads, when it reads part of another reader's (`$(…)`, a subscript).
   */
  constructor(
    private readonly src: string,
    private readonly shared: Shared,
    private readonly depth: number,
    private readonly zeroIsData = false,
    tally?: Tally,
  ) {
    if (depth > MAX_DEPTH) throw new Unreadable(`nesting deeper than ${MAX_DEPTH}`);
    this.tally = tally ?? { text: src, reads: new Map() };
    if (tally === undefined) shared.tallies.push(this.tally);
  }

  /** An expansion outside double quotes where the word splits: reported. */
  private unquoted(quoted: boolean, text: string): void {
    if (!quoted && !this.splitFree) this.add('unquoted', text);
  }

  private add(kind: ShellFindingKind, text: string): void {
    const f = { kind, text: cut(text) };
    if (!this.shared.findings.some((g) => g.kind === f.kind && g.text === f.text)) this.shared.findings.push(f);
  }

  /** `${…}` and `$((…))` nested in one another (each reader's other nesting counts in `depth`). */
  private nesting = 0;
  /** `find -exec find -exec …`: the commands read inside one another. */
  private findNesting = 0;

  private enter(): void {
    if (++this.nesting + this.depth > MAX_DEPTH) throw new Unreadable(`nesting deeper than ${MAX_DEPTH}`);
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  /** Reads a whole command list to the end of the string. */
  readAll(): void {
    this.readList(false);
    if (this.pos < this.src.length) throw new Unreadable(`a ")" with nothing open at character ${this.pos + 1}`);
    if (this.pendingHeredocs.length > 0) throw new Unreadable(`a here-document <<${this.pendingHeredocs[0]!.delimiter} without its body`);
    this.flushDeferred();
  }

  /**
   * A command list up to the end or, in `$(…)`/`(…)`, its closing `)` (left unread). Collects the simple
   * commands of each pipeline, and checks each pipeline once its here-documents are read.
   */
  private readList(inParens: boolean): void {
    let pipeline: Cmd[] = [];
    let cmd: Cmd = { words: [], heredocs: [], otherExpansions: 0, stdinExpansions: 0, writes: [] };
    // `case` state: 'subject' until `in`, 'pattern' (its `)` and `|` belong to the pattern), 'body'.
    const cases: ('subject' | 'pattern' | 'body')[] = [];
    let inDoubleBracket = false;
    // Only reserved words so far (`then case …`, `if [[ … ]]`): the next word is the command's first.
    let leading = true;
    // After `function` and after `coproc`: the next word may be a name, and the body a command of its own.
    let named: 'function' | 'coproc' | undefined;
    // The descriptor written before a redirection (`3<<<`), for the redirection that follows.
    let ioFd: string | undefined;
    // Where the last word ended, and the word: `a=(` opens an array's words.
    let lastWordEnd = -1;
    let lastWordRaw = '';
    // Function bodies: a `{` after `NAME ()` or `function NAME` opens one (the name, or undefined for a plain group).
    const groups: (string | undefined)[] = [];
    // The function each open group is in, the nearest named one: asked at every word, so kept, not looked for (a walk
    // down the groups at each word made a deep nest quadratic).
    const nearest: (string | undefined)[] = [];
    let pendingFn: string | undefined;
    const currentFn = () => nearest[nearest.length - 1];
    this.fnNow = () => currentFn() ?? this.bodyFn;
    const shared = this.shared;
    const redirect = (op: string, target: Word | undefined) => {
      const fd = ioFd ?? (op.startsWith('<') ? '0' : '1');
      ioFd = undefined;
      if (op.startsWith('<')) shared.feeds = true;
      if (op === '<<<' && fd === '0') cmd.stdin = { kind: 'herestring', word: target };
      else if (op === '<<' && fd === '0') cmd.stdin = { kind: 'heredoc' };
      else if (op.startsWith('<&') && fd === '0') cmd.stdin = { kind: 'dup', word: target };
      else if ((op === '<' || op === '<>') && fd === '0') cmd.stdin = { kind: 'file', word: target };
      // `>&2` duplicates a descriptor; `>& file` (bash) and every other output redirection writes a file.
      if (target !== undefined && (op === '<>' || (op.startsWith('>') && !(op.startsWith('>&') && /^(?:[0-9]+|-)$/.test(target.literal ?? ''))) || op.startsWith('&>'))) cmd.writes.push(target);
    };
    // The number of data commands when each open group, loop, `if` or `case` began, and whether the compound that
    // just closed held one: its output, piped on, is data (`{ echo "$1"; } | xargs tar -xf x.tar`, `(…) | …`).
    const opened: number[] = [];
    let compoundData = false;
    // Whether each open group, loop, `if` or `case` was piped data (`echo "$1" | { cd /srv && psql -d app; }`): every
    // command in its body may read it on stdin, and what the compound prints may be that data (`| { cat; } | xargs …`).
    // (Counted as well as stacked, and whether the pipeline so far carries data kept as it grows: each is asked at
    // every command, and a scan would make a deep nest or a long pipeline quadratic.)
    const pipedOpen: boolean[] = [];
    let pipedCount = 0;
    let pipelineData = false;
    const inPipedCompound = () => pipedCount > 0;
    const openCompound = (piped: boolean) => {
      pipedOpen.push(piped);
      if (piped) pipedCount++;
    };
    const closeCompound = () => {
      const piped = pipedOpen.pop() === true;
      if (piped) pipedCount--;
      return this.dataCommands > (opened.pop() ?? Number.POSITIVE_INFINITY) || piped;
    };
    // Whether a compound or subshell opening now is piped data: in a piped compound, or after a pipe carrying data.
    const pipedNow = () => this.stdinData || inPipedCompound() || pipelineData || (pipeline.length > 0 && carriesData(cmd));
    const endCommand = () => {
      if (inDoubleBracket) throw new Unreadable('a "[[" without its "]]"');
      if (inPipedCompound()) cmd.groupInput = true;
      if (cmd.words.length > 0 && printsData(cmd, shared.dataFns)) cmd.printsData = true;
      if (carriesData(cmd)) this.dataCommands++;
      if (cmd.words.length > 0 || cmd.heredocs.length > 0 || cmd.otherExpansions > 0 || cmd.stdinExpansions > 0 || cmd.writes.length > 0) {
        pipeline.push(cmd);
        pipelineData ||= carriesData(cmd);
      }
      cmd = { words: [], heredocs: [], otherExpansions: 0, stdinExpansions: 0, writes: [] };
      inDoubleBracket = false;
      ioFd = undefined;
      leading = true;
      named = undefined;
    };
    const endPipeline = () => {
      endCommand();
      compoundData = false;
      if (pipeline.length > 0) this.deferred.push(pipeline);
      pipeline = [];
      pipelineData = false;
      if (this.pendingHeredocs.length === 0) this.flushDeferred();
    };
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      const next = this.peek(1);
      const caseTop = cases[cases.length - 1];
      if (c === ' ' || c === '\t') {
        this.pos++;
        continue;
      }
      if (c === '\\' && next === '\n') {
        this.pos += 2;
        continue;
      }
      if (c === '\n' && inDoubleBracket) {
        // bash reads on to the ]] (or fails to parse): a newline does not end a [[ test.
        this.pos++;
        continue;
      }
      if (c === '\n') {
        this.pos++;
        endPipeline();
        this.readHeredocBodies();
        this.flushDeferred();
        continue;
      }
      if (c === '#') {
        const end = this.src.indexOf('\n', this.pos);
        this.pos = end === -1 ? this.src.length : end;
        continue;
      }
      if (inDoubleBracket && (c === '&' || c === '|' || c === '<' || c === '>' || c === '(' || c === ')')) {
        // Inside [[ … ]] these are the test's own operators.
        const op = (c === '&' || c === '|') && next === c ? c + c : c;
        this.pos += op.length;
        cmd.words.push({ raw: op, literal: op, expansions: 0 });
        continue;
      }
      if (c === ';') {
        if (next === ';' || next === '&') {
          this.pos += next === ';' && this.peek(2) === '&' ? 3 : 2;
          endPipeline();
          if (caseTop === 'body') cases[cases.length - 1] = 'pattern';
          continue;
        }
        this.pos++;
        endPipeline();
        continue;
      }
      if (c === '&') {
        if (next === '>') {
          const op = this.peek(2) === '>' ? '&>>' : '&>';
          this.pos += op.length;
          const target = this.redirectTarget();
          cmd.otherExpansions += target.expansions;
          redirect(op, target);
          continue;
        }
        this.pos += next === '&' ? 2 : 1;
        endPipeline();
        continue;
      }
      if (c === '|') {
        if (caseTop === 'pattern') {
          this.pos++;
          continue;
        }
        if (next === '|') {
          this.pos += 2;
          endPipeline();
          continue;
        }
        this.pos += next === '&' ? 2 : 1;
        shared.feeds = true;
        const fed = compoundData;
        endCommand();
        compoundData = false;
        if (fed) cmd.compoundInput = true;
        continue;
      }
      if (c === '<' || c === '>') {
        if (next === '(') {
          // Process substitution: a command of its own.
          const start = this.pos;
          this.pos += 2;
          shared.feeds = true;
          this.readNestedList();
          // A file of generated text: an operand like any other (`sh <(…)` runs it).
          cmd.words.push({ raw: this.src.slice(start, this.pos), literal: undefined, expansions: 1 });
          continue;
        }
        if (c === '<' && next === '<' && this.peek(2) === '<') {
          this.pos += 3;
          const target = this.redirectTarget();
          cmd.stdinExpansions += target.expansions;
          redirect('<<<', target);
          continue;
        }
        if (c === '<' && next === '<') {
          this.pos += 2;
          const stripTabs = this.peek() === '-';
          if (stripTabs) this.pos++;
          this.readHeredocDelimiter(cmd, stripTabs);
          redirect('<<', undefined);
          continue;
        }
        const opStart = this.pos;
        this.pos++;
        while (this.peek() === '>' || this.peek() === '&' || this.peek() === '|' || (c === '<' && this.peek() === '>')) this.pos++;
        const op = this.src.slice(opStart, this.pos);
        const target = this.redirectTarget();
        cmd.otherExpansions += target.expansions;
        redirect(op, target);
        continue;
      }
      if (c === '(') {
        if (next === '(') {
          this.pos += 2;
          this.readArithmetic('((');
          continue;
        }
        this.pos++;
        if (caseTop === 'pattern') continue;
        if (this.pos - 1 === lastWordEnd && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=$/.test(lastWordRaw)) {
          // `a=(…)`, `declare -a a=(…)`: an array's words, not commands.
          this.readNestedList(true);
          continue;
        }
        // A subshell after a pipe (`echo "$1" | (xargs tar …)`) reads what the commands before it print.
        const piped = pipedNow();
        endPipeline();
        // `f ()` names a function; the `(` after it opens its body (`f() (xargs tar -xf x.tar)`).
        const parens = /^[ \t]*\)/.test(this.src.slice(this.pos, this.pos + 64)) && /^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(lastWordRaw);
        const bodyOf = parens ? undefined : pendingFn;
        if (parens) pendingFn = lastWordRaw;
        else pendingFn = undefined;
        const inside = this.readNestedList(false, piped, bodyOf);
        // What a call of a function whose body carries data prints may be that data.
        if (bodyOf !== undefined && inside > 0) shared.dataFns.add(bodyOf);
        this.dataCommands += inside;
        // What it prints is data when a command inside carries data or it reads the data piped to it (`| (cat) | …`).
        compoundData = inside > 0 || piped;
        continue;
      }
      if (c === ')') {
        if (caseTop === 'pattern') {
          this.pos++;
          cases[cases.length - 1] = 'body';
          cmd.pattern = true;
          endPipeline();
          continue;
        }
        if (inParens) {
          endPipeline();
          if (this.pendingHeredocs.length > 0) throw new Unreadable(`a here-document <<${this.pendingHeredocs[0]!.delimiter} without its body before ")"`);
          return;
        }
        throw new Unreadable(`a ")" with nothing open at character ${this.pos + 1}`);
      }
      // A word. It neither splits nor globs as an operand of [[ … ]] (bash; in dash, `[[` is a command not
      // found, which runs nothing), nor as an assignment before the command (POSIX: `x=$1`, `x=$1 cmd`,
      // `pid=$(pgrep -f "$1")`). Not after a declaration builtin: `local x=$1` and `export x=$1` are arguments,
      // and older dash splits them (`local x=$1` with $1 = "y PATH=/tmp/e" sets PATH; dash 0.5.12 and bash do not,
      // tried, but the VM's sh may be older), so they stay refused; nor a
      // subscripted one (`a[0]=$1`), nor `x=($1)`, an array's words. The value is still data: what the
      // assignment fills is checked (code variables, subscripts, -i names), and a later unquoted `$x` is refused.
      this.splitFree =
        inDoubleBracket ||
        (caseTop !== 'pattern' && caseTop !== 'subject' && matchAt(ASSIGNMENT_START, this.src, this.pos) !== null && onlyAssignments(cmd.words));
      let word: Word;
      try {
        word = this.readWord(false);
      } finally {
        this.splitFree = false;
      }
      lastWordEnd = this.pos;
      lastWordRaw = word.raw;
      // An io-number (`2>&1`, `3<<<`, `{fd}>`): the digits or {name} right before a redirection belong to it,
      // not to the command's words (read as a word, `printf %s "$1" | sh 2>&1` hid its shell and
      // `2>/dev/null eval "$1"` took "2" for the command).
      if (!inDoubleBracket && (this.peek() === '<' || this.peek() === '>') && IO_NUMBER.test(word.raw)) {
        ioFd = /^[0-9]+$/.test(word.raw) ? String(Number(word.raw)) : word.raw;
        continue;
      }
      const first = leading;
      if (!RESERVED.has(word.literal ?? '')) leading = false;
      if (caseTop === 'subject' && word.literal === 'in') {
        cases[cases.length - 1] = 'pattern';
        cmd.words.push(word);
        endPipeline();
        continue;
      }
      if ((caseTop === 'pattern' || (caseTop === 'body' && first)) && word.literal === 'esac') {
        cases.pop();
        endPipeline();
        compoundData = closeCompound();
        continue;
      }
      if (first && word.raw === word.literal) {
        if (COMPOUND_OPENERS.has(word.raw)) {
          opened.push(this.dataCommands);
          openCompound(pipedNow());
        } else if (COMPOUND_CLOSERS.has(word.raw)) compoundData = closeCompound();
      }
      cmd.words.push(word);
      if (first && word.raw === '{') {
        groups.push(pendingFn);
        nearest.push(pendingFn ?? currentFn());
        pendingFn = undefined;
      } else if (first && word.raw === '}') {
        nearest.pop();
        const fn = groups.pop();
        if (fn !== undefined && compoundData) shared.dataFns.add(fn);
      }
      else if (named !== 'function') pendingFn = undefined;
      cmd.fn ??= currentFn();
      if (named === 'function') pendingFn = word.literal;
      if (named === 'function' || (named === 'coproc' && !COMPOUND.has(word.raw) && this.compoundFollows())) {
        // `function f { …; }`, `coproc NAME { …; }`: the name ends its own command; the body is read as commands.
        endPipeline();
        continue;
      }
      named = undefined;
      if (first && word.raw === 'function') named = 'function';
      if (first && word.raw === 'coproc') {
        named = 'coproc';
        // Its descriptors are pipes the rest of the command may write data into.
        shared.feeds = true;
      }
      if (first && word.literal === 'case') cases.push('subject');
      // Only an unquoted [[ opens a test ('[[' is a command name like any other).
      if (first && word.raw === '[[') inDoubleBracket = true;
      if (inDoubleBracket && word.literal === ']]') inDoubleBracket = false;
    }
    endPipeline();
    if (inParens) throw new Unreadable('a "$(" or "(" without its ")"');
  }

  /** After `coproc NAME`: a compound command (its body) comes next. */
  private compoundFollows(): boolean {
    let at = this.pos;
    while (this.src[at] === ' ' || this.src[at] === '\t') at++;
    if (this.src[at] === '(') return true;
    const next = /[^ \t\n;&|<>()]+/y;
    next.lastIndex = at;
    return COMPOUND.has(next.exec(this.src)?.[0] ?? '');
  }

  /** `$(…)`, `(…)`, `<(…)`: read up to the matching `)` and past it. */
  /** Reads `(…)`, `$(…)`, `<(…)` or an array's `(…)`: the number of commands inside that carry data. */
  private readNestedList(arrayWords = false, stdinData = false, bodyOf?: string): number {
    const nested = new Reader(this.src, this.shared, this.depth + 1, this.zeroIsData, this.tally);
    nested.arrayWords = arrayWords;
    nested.stdinData = stdinData;
    nested.bodyFn = bodyOf ?? this.fnNow();
    nested.pos = this.pos;
    // Here-documents opened inside are read by the nested reader at its newlines.
    nested.readList(true);
    nested.flushDeferred();
    this.pos = nested.pos + 1;
    return nested.dataCommands;
  }

  /** The word after a redirection operator: how many expansions it holds. */
  private redirectTarget(): Word {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
    const c = this.peek();
    if ((c === '<' || c === '>') && this.peek(1) === '(') {
      // `< <(cmd)`: a process substitution's output, a file of generated text.
      const start = this.pos;
      this.pos += 2;
      this.shared.feeds = true;
      this.readNestedList();
      return { raw: this.src.slice(start, this.pos), literal: undefined, expansions: 1 };
    }
    if (c === undefined || /[\n;&|<>()]/.test(c)) throw new Unreadable(`a redirection without its target at character ${this.pos + 1}`);
    return this.readWord(false);
  }

  private readHeredocDelimiter(cmd: Cmd, stripTabs: boolean): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
    const start = this.pos;
    let delimiter = '';
    let quoted = false;
    while (this.pos < this.src.length && !METACHAR.test(this.src[this.pos]!)) {
      const c = this.src[this.pos]!;
      if (c === "'" || c === '"') {
        const end = this.src.indexOf(c, this.pos + 1);
        if (end === -1) throw new Unreadable('an unterminated quote in a here-document delimiter');
        delimiter += this.src.slice(this.pos + 1, end);
        quoted = true;
        this.pos = end + 1;
      } else if (c === '\\') {
        delimiter += this.src[this.pos + 1] ?? '';
        quoted = true;
        this.pos += 2;
      } else if (c === '$' || c === '`') {
        throw new Unreadable(`an expansion in a here-document delimiter (${this.src.slice(start, this.pos + 1)})`);
      } else {
        delimiter += c;
        this.pos++;
      }
    }
    if (delimiter === '') throw new Unreadable(`"<<" without a delimiter at character ${start + 1}`);
    const doc: HereDoc = { delimiter, stripTabs, quoted, expands: false };
    cmd.heredocs.push(doc);
    this.pendingHeredocs.push(doc);
  }

  /** After a newline: the bodies of the here-documents opened on the line, in order. */
  private readHeredocBodies(): void {
    while (this.pendingHeredocs.length > 0) {
      const doc = this.pendingHeredocs.shift()!;
      const lines: string[] = [];
      for (;;) {
        if (this.pos >= this.src.length) throw new Unreadable(`a here-document <<${doc.delimiter} without its closing line ${doc.delimiter}`);
        const end = this.src.indexOf('\n', this.pos);
        const line = this.src.slice(this.pos, end === -1 ? this.src.length : end);
        this.pos = end === -1 ? this.src.length : end + 1;
        if ((doc.stripTabs ? line.replace(/^\t+/, '') : line) === doc.delimiter) break;
        lines.push(line);
      }
      doc.body = lines.join('\n');
      if (!doc.quoted) {
        const body = new Reader(doc.body, this.shared, this.depth + 1, this.zeroIsData);
        doc.expands = body.readQuotedText('heredoc') > 0;
      }
    }
  }

  private flushDeferred(): void {
    for (const pipeline of this.deferred.splice(0)) this.checkPipeline(pipeline);
  }

  /**
   * Double-quoted text (`"` ends it) or a here-document body (to the end; `"` is a plain character): its
   * expansions are one word each. Returns how many expansions it holds.
   */
  private readQuotedText(mode: 'dq' | 'heredoc'): number {
    let expansions = 0;
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === '\\') {
        this.pos += 2;
        continue;
      }
      if (mode === 'dq' && c === '"') return expansions;
      if (c === '$') {
        expansions += this.readDollar(true);
        continue;
      }
      if (c === '`') {
        this.readBacktick(true, mode === 'dq');
        expansions++;
        continue;
      }
      this.pos++;
    }
    if (mode === 'dq') throw new Unreadable('an unterminated double quote');
    return expansions;
  }

  /** A word outside quotes (or, `inBrace`, the word of a `${x:-word}` up to its `}`, left unread). */
  private readWord(inBrace: boolean, quoted = false): Word {
    const start = this.pos;
    let literal = '';
    let expansions = 0;
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (inBrace ? c === '}' : METACHAR.test(c)) break;
      if (c === '\\') {
        if (this.peek(1) !== '\n') literal += this.peek(1) ?? '';
        this.pos += 2;
        continue;
      }
      if (c === "'" && !quoted) {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end === -1) throw new Unreadable('an unterminated single quote');
        literal += this.src.slice(this.pos + 1, end);
        this.pos = end + 1;
        continue;
      }
      if (c === '"') {
        this.pos++;
        const before = this.pos;
        const n = this.readQuotedText('dq');
        if (n === 0) literal += this.src.slice(before, this.pos).replace(/\\([$`"\\])/g, '$1');
        expansions += n;
        this.pos++;
        continue;
      }
      if (c === '$') {
        const before = this.pos;
        const n = this.readDollar(quoted);
        // $'…' is bash's ANSI-C quoting: its value (\x24 is a `$`) is what eval or sh -c reads.
        if (n === 0) literal += !quoted && this.src[before + 1] === "'" ? decodeAnsiC(this.src.slice(before + 2, this.pos - 1)) : this.src.slice(before, this.pos);
        expansions += n;
        continue;
      }
      if (c === '`') {
        this.readBacktick(quoted, quoted);
        expansions++;
        continue;
      }
      literal += c;
      this.pos++;
    }
    if (inBrace && this.pos >= this.src.length) throw new Unreadable('a "${" without its "}"');
    return { raw: this.src.slice(start, this.pos), literal: expansions === 0 ? literal : undefined, expansions };
  }

  /**
   * At a `$`: reads the expansion (or a literal `$`, `$'…'`) and records what it finds. Returns 1 for an
   * expansion that may carry data, 0 otherwise.
   */
  private readDollar(quoted: boolean): number {
    const start = this.pos;
    const next = this.peek(1);
    if (next === '(' && this.peek(2) === '(') {
      this.pos += 3;
      this.readArithmetic('$((');
      // A number: splitting it is harmless.
      return 0;
    }
    if (next === '(') {
      this.pos += 2;
      this.readNestedList();
      this.unquoted(quoted, this.src.slice(start, this.pos));
      return 1;
    }
    if (next === '{') {
      this.pos += 2;
      return this.readBrace(start, quoted);
    }
    if (next === '[') {
      // $[…]: bash's old spelling of $((…)).
      this.enter();
      let depth = 0;
      let end = this.pos + 2;
      for (; end < this.src.length; end++) {
        if (this.src[end] === '[') depth++;
        else if (this.src[end] === ']' && depth-- === 0) break;
      }
      if (end >= this.src.length) throw new Unreadable('a "$[" without its "]"');
      this.scanArithmeticText(this.src.slice(this.pos + 2, end));
      this.pos = end + 1;
      this.nesting--;
      return 0;
    }
    if (next === "'" && !quoted) {
      // $'…': ANSI-C quoting (bash), no expansion inside.
      this.pos += 2;
      while (this.pos < this.src.length && this.src[this.pos] !== "'") this.pos += this.src[this.pos] === '\\' ? 2 : 1;
      if (this.pos >= this.src.length) throw new Unreadable("an unterminated $'");
      this.pos++;
      return 0;
    }
    if (next !== undefined && HARMLESS_SPECIALS.has(next) && !(next === '0' && this.zeroIsData)) {
      this.pos += 2;
      return 0;
    }
    if (next !== undefined && /[0-9@*]/.test(next)) {
      this.pos += 2;
      this.unquoted(quoted, `$${next}`);
      return 1;
    }
    const name = matchAt(NAME, this.src, this.pos + 1);
    if (name) {
      this.pos += 1 + name[0].length;
      this.unquoted(quoted, `$${name[0]}`);
      return 1;
    }
    // A lone `$` (before a space, `"`, `/`…) is a literal dollar.
    this.pos++;
    return 0;
  }

  /** After `${`: its name, subscript and operator word, to the `}`. */
  private readBrace(start: number, quoted: boolean): number {
    this.enter();
    const head = matchAt(BRACE_HEAD, this.src, this.pos);
    if (!head) throw new Unreadable(`a "\${" this check cannot read (${cut(this.src.slice(start, start + 12))})`);
    this.pos += head[0].length;
    const [, prefix, name] = head;
    if (prefix === '!' && this.peek() !== '*' && this.peek() !== '@') {
      // ${!x}: the value of x names the variable, and bash evaluates a subscript in that name.
      this.add('arithmetic', `\${!${name}}`);
    }
    if (this.peek() === '[') {
      const end = this.src.indexOf(']', this.pos);
      if (end === -1) throw new Unreadable('an array subscript without its "]"');
      const subscript = this.src.slice(this.pos + 1, end);
      if (!/^([@*]|[0-9]+)$/.test(subscript)) this.scanArithmeticText(subscript);
      this.pos = end + 1;
    }
    if (this.peek() === ':' && !/[-=?+]/.test(this.peek(1) ?? '')) {
      // ${x:offset:length}: both are arithmetic.
      const end = this.src.indexOf('}', this.pos);
      if (end === -1) throw new Unreadable('a "${" without its "}"');
      this.scanArithmeticText(this.src.slice(this.pos + 1, end).replace(':', ' '));
      this.pos = end;
    } else if (this.peek() !== '}') {
      // ${x@P} expands the value as a prompt: its $(…) and `…` run.
      if (this.peek() === '@' && this.peek(1) === 'P') this.add('reparse', `\${${prefix}${name}@P}`);
      this.readWord(true, quoted);
    }
    if (this.peek() !== '}') throw new Unreadable('a "${" without its "}"');
    this.pos++;
    this.nesting--;
    const text = this.src.slice(start, this.pos);
    if (prefix === '' && HARMLESS_SPECIALS.has(name!) && !(name === '0' && this.zeroIsData) && text === `\${${name}}`) return 0;
    this.unquoted(quoted, text);
    return 1;
  }

  /**
   * At a backtick: the inside, unescaped as the shell does (`\"` too inside double quotes), is a command of
   * its own; `quoted`: its output is not split (double quotes, a here-document).
   */
  private readBacktick(quoted: boolean, inDq: boolean): void {
    const start = this.pos;
    let inner = '';
    this.pos++;
    while (this.pos < this.src.length && this.src[this.pos] !== '`') {
      const c = this.src[this.pos]!;
      const n = this.peek(1);
      if (c === '\\' && n !== undefined && (n === '$' || n === '`' || n === '\\' || (inDq && n === '"'))) {
        inner += n;
        this.pos += 2;
        continue;
      }
      inner += c;
      this.pos++;
    }
    if (this.pos >= this.src.length) throw new Unreadable('an unterminated backtick');
    this.pos++;
    const nested = new Reader(inner, this.shared, this.depth + 1, this.zeroIsData);
    nested.bodyFn = this.fnNow();
    nested.readAll();
    this.unquoted(quoted, this.src.slice(start, this.pos));
  }

  /**
   * After `$((` or `((`: to the closing `))`. Inside, bash evaluates every variable's value as an expression
   * (recursively, with command substitutions in array subscripts), so an expansion, a substitution or a bare
   * name is `arithmetic`; digits, operators and the harmless specials are all that is safe.
   */
  private readArithmetic(opener: string): void {
    this.enter();
    let depth = 0;
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === '(') depth++;
      else if (c === ')') {
        if (depth > 0) depth--;
        else if (this.peek(1) === ')') {
          this.pos += 2;
          this.nesting--;
          return;
        } else throw new Unreadable(`"${opener}" that does not end with "))" (write "$( (" with a space for a subshell)`);
      } else if (c === '$') {
        const start = this.pos;
        const found = this.shared.findings.length;
        const n = this.readDollar(true);
        const text = this.src.slice(start, this.pos);
        const own = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(text)?.[1];
        if (n > 0 && own !== undefined && SHELL_NUMBERS.has(own)) this.readShellNumber(own);
        else if (n > 0 && !LENGTH.test(text)) {
          this.shared.findings.splice(found);
          this.add('arithmetic', text);
        }
        continue;
      } else if (c === '`') {
        const start = this.pos;
        this.readBacktick(true, false);
        this.add('arithmetic', this.src.slice(start, this.pos));
        continue;
      } else if (c === "'" || c === '"') {
        throw new Unreadable(`a quote inside "${opener}…))"`);
      } else if (c === '\\') {
        this.pos++;
      } else if (/[0-9]/.test(c)) {
        this.pos += matchAt(NUMBER, this.src, this.pos)![0].length;
        continue;
      } else {
        const name = matchAt(NAME, this.src, this.pos);
        if (name) {
          if (SHELL_NUMBERS.has(name[0])) this.readShellNumber(name[0]);
          else this.add('arithmetic', name[0]);
          this.pos += name[0].length;
          continue;
        }
      }
      this.pos++;
    }
    throw new Unreadable(`"${opener}" without its "))"`);
  }

  /** One of {@link SHELL_NUMBERS} read in arithmetic: counted, checked once the whole command is read. */
  private readShellNumber(name: string): void {
    this.tally.reads.set(name, (this.tally.reads.get(name) ?? 0) + 1);
  }

  /** Text bash evaluates as arithmetic (a subscript, `let`'s argument, a `[[ -eq ]]` operand). */
  private scanArithmeticText(text: string): void {
    const inner = new Reader(`${text}))`, this.shared, this.depth + 1, this.zeroIsData, this.tally);
    inner.readArithmetic('arithmetic');
    if (inner.pos < inner.src.length) throw new Unreadable(`arithmetic this check cannot read (${cut(text)})`);
  }

  /**
   * Reads a literal string (`sh -c '…'`, `eval '…'`) as a command of its own; `zeroIsData`: its `$0`
   * (the same shell's for `eval` and `trap`; a new shell's first operand for `sh -c`).
   */
  private readCommandText(text: string, zeroIsData = this.zeroIsData): void {
    const nested = new Reader(text, this.shared, this.depth + 1, zeroIsData);
    nested.bodyFn = this.checkingFn;
    nested.readAll();
  }

  /** An assignment word: data in a variable the shell reads as code, in a subscript, or in an integer variable. */
  private checkAssignment(w: Word): void {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=/.exec(w.raw)!;
    if (w.expansions === 0) return;
    if (m[2] !== undefined && /[$`]/.test(m[2])) this.add('arithmetic', w.raw);
    // PATH="/opt/bin:$PATH" extends the variable with its own value: no data.
    // Only the name itself: `$PS4_` or `$PATHX` is another variable, which may hold data.
    else if (CODE_VARIABLES.test(m[1]!) && /[$`]/.test(w.raw.slice(m[0].length).replace(new RegExp(`\\$(?:${m[1]}(?![A-Za-z0-9_])|\\{${m[1]}\\})`, 'g'), ''))) this.add('reparse', w.raw);
    else if (this.integers.has(m[1]!)) this.add('arithmetic', w.raw);
    else if (this.refs.has(m[1]!)) this.add('reparse', w.raw);
  }

  private checkPipeline(pipeline: Cmd[]): void {
    let before = this.stdinData;
    for (const cmd of pipeline) {
      const fromStdin: boolean = before || cmd.compoundInput === true || cmd.groupInput === true || cmd.stdinExpansions > 0 || cmd.heredocs.some((d) => d.expands);
      this.checkCommand(cmd, fromStdin, before || cmd !== pipeline[0]);
      // What a command prints of a file the command wrote with data is data too (`echo "$1" > /tmp/q; cat /tmp/q | psql`).
      const written = this.shared.written;
      if (cmd.printsData === true) before = true;
      const readsWritten = cmd.words.some((w) => w.literal !== undefined && written.has(w.literal)) || (cmd.stdin?.kind === 'file' && cmd.stdin.word?.literal !== undefined && written.has(cmd.stdin.word.literal));
      before ||= fromStdin || readsWritten || cmd.otherExpansions > 0 || cmd.words.some((w) => w.expansions > 0);
    }
  }

  /**
   * SQL psql reads from `-c`, a here-document or a here-string, in a command with data (`data`: a word with an expansion,
   * `-v h="$1"`, or `\getenv`, which reads the environment). psql copies an unquoted `:h` into the SQL as written, a
   * backslash command in the value too (`\! id` ran); `\!`, `\setenv`, `\e` run shell commands or set their environment,
   * `\gexec` runs what a query prints as SQL; `\o`, `\g`, `\w`, `\copy … to` and `COPY … TO` write what is printed (the data,
   * maybe) to a file, like `-o` (a code file or one the command runs is refused), or pipe it to a command (`|cmd`,
   * `program`), and a file a variable names is data's choice. A backquoted command in a meta-command's argument is
   * refused, with data or without; `\!`'s and `|`'s commands are read as commands. `\i` of stdin or a written file on stdin's SQL, as for `-c`.
   */
  private psqlScripts(scripts: { sql: string; stdin: boolean }[], data: boolean, stdinProgram: (who: string) => void): void {
    for (const { sql, stdin } of scripts) {
      if (data) {
        const bare = /(?<!:):[A-Za-z_][A-Za-z0-9_]*/.exec(sql);
        if (bare !== null) this.add('reparse', `psql ${bare[0]} (copied into the SQL as written)`);
        for (const m of sql.matchAll(/\bcopy\b[^;]*/gi)) {
          if (/\bprogram\b/i.test(m[0])) {
            this.add('reparse', 'psql copy … program (runs a command beside data)');
            continue;
          }
          const to = /\bto\s+(?:'([^']*)'|([^\s;'()]+))/i.exec(m[0]);
          const file = to?.[1] ?? to?.[2];
          if (file === undefined || /^p?stdout$/i.test(file)) continue;
          if (file.includes(':')) this.add('reparse', `psql copy … to ${file} (a file a variable names)`);
          else this.shared.written.add(file);
        }
      }
      for (const line of sql.split('\n')) {
        const segments = line.split('\\');
        for (let k = 1; k < segments.length; k++) {
          const name = /^(?:[A-Za-z_]+|!)/.exec(segments[k]!)?.[0];
          if (name === undefined) continue;
          if (name === '!') {
            // The rest of the line, backslashes and all, is the shell command.
            const text = segments.slice(k).join('\\').slice(1);
            if (data) this.add('reparse', 'psql \\! (a shell command beside data)');
            this.readCommandText(text);
            break;
          }
          const arg = segments[k]!.slice(name.length).trim();
          if (arg.includes('`')) this.add('reparse', `psql \\${name} \`…\` (runs a shell command)`);
          if (PSQL_RUNNERS.has(name) && data) this.add('reparse', `psql \\${name} (beside data)`);
          if (PSQL_WRITERS.has(name)) {
            const target = name === 'g' || name === 'gx' ? arg.replace(/^\([^)]*\)\s*/, '') : arg;
            if (target.startsWith('|')) {
              // The rest of the line is the command, as for `\!`.
              if (data) this.add('reparse', `psql \\${name} | (pipes what psql prints to a command)`);
              const text = segments.slice(k).join('\\');
              this.readCommandText(text.slice(text.indexOf('|') + 1));
              break;
            }
            const file = (/^(?:'([^']*)'|(\S+))/.exec(target) ?? [])[1] ?? /^\S+/.exec(target)?.[0];
            if (file === undefined || !data) continue;
            if (file.includes(':')) this.add('reparse', `psql \\${name} ${file} (a file a variable names)`);
            else this.shared.written.add(file);
          }
          if (PSQL_READERS.has(name)) {
            const file = (/^(?:'([^']*)'|(\S+))/.exec(arg) ?? [])[1] ?? /^\S+/.exec(arg)?.[0];
            if (file === undefined) continue;
            if (data && file.includes(':')) this.add('reparse', `psql \\${name} ${file} (a file a variable names)`);
            else if (stdin) this.programFile({ raw: file, literal: file, expansions: 0 }, `psql \\${name}`, stdinProgram);
          }
        }
      }
    }
  }

  /**
   * The bodies of the functions called with data on their stdin (`echo "$1" | f`, `f <<< "$1"`), checked again as
   * reading it: each command of a body may read the call's stdin (`f() (xargs tar -xf x.tar)`, `f() { psql -d app; }`),
   * as in a group piped data. A call in a body so checked is piped data too. Each function's bodies once: linear.
   */
  static checkPipedCalls(shared: Shared): void {
    const done = new Set<string>();
    shared.rechecking = true;
    // The list grows as bodies are checked (a call inside one): an array's iterator reads its length at each step.
    for (const name of shared.stdinCalls) {
      if (done.has(name)) continue;
      done.add(name);
      for (const { reader, cmd } of shared.fnBodies.get(name) ?? []) reader.checkCommand(cmd, true, true);
    }
  }

  /** Where a simple command hands its words (or its stdin, `fromStdin` holding data) to another parser. */
  /** A variable filled by `read`, `mapfile`, `for`, `printf -v`…: data in a code, integer or name-reference variable. */
  private checkFilled(target: string, text: string): void {
    const n = target.replace(/\[.*$/s, '');
    if (CODE_VARIABLES.test(n) || this.refs.has(n)) this.add('reparse', text);
    else if (this.integers.has(n) || target !== n) this.add('arithmetic', text);
  }

  /**
   * Whether a program's path names a descriptor: anything under `/dev` or `/proc` once resolved (`/dev/fd//3`,
   * `/proc/self/task/1/fd/3`), but `/dev/null`. A relative path is kept for the end: a descriptor when the
   * command also changes to a folder the check cannot place.
   */
  private descriptor(path: string, text: string): boolean {
    if (path.split('/').some((c) => c !== '' && this.shared.fdLinks.has(c))) return true;
    // `/var/run/../dev/stdin`, `cd /var/run && sh ../dev/stdin`: `..` through a symlink the check cannot see.
    if (climbsBack(path) || (path.startsWith('..') && FD_PATH.test(normalise(path)))) {
      // It may as well be a file the command wrote (`echo "$1" > /tmp/x; sh /var/run/../tmp/x`).
      this.shared.runs.push({ path, text });
      return true;
    }
    if (!path.startsWith('/')) {
      if (path !== '') this.shared.relative.push(text);
      return false;
    }
    const p = normalise(path);
    return FD_PATH.test(p) && p !== '/dev/null';
  }

  /** A file run as code (`sh f`, `. f`, `./f`, `awk -f f`, `sh < f`): refused at the end when the command writes it. */
  private runsFile(w: Word | undefined, text: string, asCommand = false): void {
    if (w?.literal === undefined || w.literal === '') return;
    if (patternWord(w.raw)) {
      // `sh /tmp/y*`, `. /tmp/[y]`: whichever file the pattern matches, one the command may have written.
      this.add('reparse', `${text} (a file named by a pattern)`);
      return;
    }
    if (asCommand && !w.literal.includes('/')) {
      // A bare command name runs from PATH: a file written there under that name. A script's name given to
      // sh, ., source or an interpreter (`sh x.sh`) is a path relative to the current folder.
      this.shared.runs.push({ path: w.literal, text, bare: true });
      return;
    }
    this.shared.runs.push({ path: w.literal, text });
  }

  /**
   * A program read from a file (`awk -f x`, `sed -f x`, `at -f x`): named by data, stdin, a descriptor or a
   * file the command writes.
   */
  private programFile(file: Word | undefined, who: string, stdinProgram: (who: string) => void): void {
    if (file === undefined) return;
    if (file.expansions > 0) this.add('reparse', `${who} ${file.raw}`);
    else if (stdinPath(file.literal!)) stdinProgram(who);
    else if (this.descriptor(file.literal!, `${who} ${file.raw}`)) this.shared.inherits.push(`${who} ${file.raw}`);
    else this.runsFile(file, `${who} ${file.raw}`);
  }

  /** `-f file`, `-ffile`, `--file=file` of awk and sed: their program's file. */
  private programFiles(rest: Word[], who: string, stdinProgram: (who: string) => void): void {
    for (let j = 0; j < rest.length; j++) {
      const w = rest[j]!;
      if (w.literal === '--') return;
      if (w.literal === '-f' || w.literal === '--file') this.programFile(rest[++j], `${who} -f`, stdinProgram);
      else if (/^(-f|--file=)./.test(w.raw)) {
        const raw = w.raw.replace(/^(-f|--file=)/, '');
        this.programFile({ raw, literal: w.literal?.replace(/^(-f|--file=)/, ''), expansions: w.expansions }, `${who} -f`, stdinProgram);
      }
    }
  }

  /** The index of the command a wrapper runs (`timeout 5 CMD`, `sudo -u app CMD`), or -1 when it runs none. */
  private wrapperCommand(words: Word[], k: number, spec: WrapperTail): number {
    let operands = spec.operands ?? 0;
    let options = true;
    // systemd-run: a variable it sets from data (`-E "HOST=$1"`, `-E HOST` from its own environment), which the service
    // manager puts in the command's `${HOST}`, and a word `$HOST` split at blanks, before running it (as in ExecStart=),
    // unless --scope or --expand-environment=no; `sh -c 'restart "$HOST"'` is left to the shell.
    let environmentData: string | undefined;
    let expands = spec.environment !== undefined;
    for (let j = k + 1; j < words.length; j++) {
      const w = words[j]!;
      const l = w.literal;
      if (options && l === '--') {
        options = false;
        continue;
      }
      if (options && /^-./.test(w.raw)) {
        if (spec.none?.includes(l ?? '')) return -1;
        // `sudo -Eu root CMD`, `timeout -vs KILL 5 CMD`, `timeout --sig KILL 5 CMD`: the value is not the command.
        const o = readOption(words, j, optionSpec(spec.args));
        if (o.names.includes('--scope')) expands = false;
        for (const v of o.values) {
          const shown = `${(words[k]!.literal ?? '').replace(/^.*\//, '')} ${v.name} ${v.value?.raw ?? ''}`;
          if (v.name === '--expand-environment' && /^(no|n|false|f|off|0)$/i.test(v.value?.literal ?? '')) expands = false;
          if (spec.environment?.includes(v.name) && v.value !== undefined && (v.value.expansions > 0 || !(v.value.literal ?? '').includes('='))) environmentData ??= shown;
          if (v.value === undefined || v.value.expansions === 0) continue;
          if (spec.code?.includes(v.name)) this.add('reparse', shown);
          else if (spec.environment?.includes(v.name)) {
            // `-E "HOST=$1"` passes; a name from data, or one read as code (`-E "LD_PRELOAD=$1"`), does not.
            const assigned = /^([A-Za-z_][A-Za-z0-9_]*)\+?=/.exec(textBeforeData(v.value) ?? '')?.[1];
            if (assigned === undefined || CODE_VARIABLES.test(assigned)) this.add('reparse', shown);
          }
        }
        j = o.end;
        continue;
      }
      if (spec.assignments && isAssignment(w)) {
        this.checkAssignment(w);
        continue;
      }
      if (operands > 0) {
        operands--;
        continue;
      }
      const expanded = expands && environmentData !== undefined ? words.slice(j).find((x) => /\$\{|^\$[A-Za-z_][A-Za-z0-9_]*$/.test(x.literal ?? '')) : undefined;
      if (expanded !== undefined) this.add('reparse', `${environmentData} (expanded in ${expanded.raw})`);
      return j;
    }
    return -1;
  }

  /**
   * Data where the program at `words[at]` reads options ({@link OPTION_PROGRAMS}, and `find`'s start paths): a
   * word that may start with `-` because of data, before `--` (a GNU program permutes: anywhere before it), is
   * reported as `option`. tar's first word without a `-` is its old-style letters, each taking a value in turn.
   */
  private optionData(words: Word[], at: number): void {
    const name = (words[at]!.literal ?? '').replace(/^.*\//, '');
    if (name === 'find') {
      // `find [-H|-L|-P|-D x|-Olevel] [--] path… expression`: GNU find reads a path starting with `-` as the
      // start of its expression, after `--` too (`find -- "$1" -name x` with `-delete` deleted the working folder).
      // In the expression, data that is no primary's value is a primary or an operator of its own
      // (`find /var/log -name '*.gz' "$1" -delete` with `-o` deleted every other file: tried, GNU find 4.9).
      let expression = false;
      for (let j = at + 1; j < words.length; j++) {
        const w = words[j]!;
        if (w.literal !== undefined) {
          if (expression) {
            if (/^-(exec|execdir|ok|okdir)$/.test(w.literal)) while (j + 1 < words.length && words[j]!.literal !== ';' && words[j]!.literal !== '+') j++;
            else if (/^-newer[a-zA-Z]{2}$/.test(w.literal) || FIND_VALUE_PRIMARIES.has(w.literal)) j += w.literal === '-fprintf' ? 2 : 1;
          } else if (w.literal === '-D') j++;
          else if (w.literal === '--' || /^-([HLP]|O[0-9]*|D.+)$/.test(w.literal)) continue;
          else if (/^[-(!),]/.test(w.literal)) {
            expression = true;
            j--;
          }
          continue;
        }
        if (dataOption(w, NO_OPTIONS)) {
          this.add('option', `find ${w.raw}`);
          return;
        }
      }
      return;
    }
    const program = own(OPTION_PROGRAMS, name);
    if (program === undefined) return;
    let spec = optionSpec(program.args);
    let j = at + 1;
    const first = words[j];
    if (TARS.has(name) && first?.literal !== undefined && first.literal !== '' && !first.literal.startsWith('-')) {
      // `tar xf x.tar`, `tar czf out.tgz -C /srv app`: the letters' values come in the words after, in turn
      // (`tar xIf "$1" x.tar`: -I's program is "$1").
      const valued = [...first.literal].filter((letter) => spec.short.includes(letter));
      const code = valued.findIndex((letter, k) => program.code?.includes(`-${letter}`) && (words[j + 1 + k]?.expansions ?? 0) > 0);
      if (code !== -1) {
        this.add('reparse', `${name} -${valued[code]} ${words[j + 1 + code]!.raw}`);
        return;
      }
      j += 1 + valued.length;
    }
    let subcommand = program.subcommands === undefined;
    let codes = program.code;
    // `git config` reads options up to its first operand only (its key; 2.46's `set`, `get`… are read first):
    // `git config user.name "$1"` sets the name to a `--file=…` value, and `--` or `--end-of-options` there is a value.
    let config: 'no' | 'options' | 'action' = 'no';
    let runner: 'submodule' | 'bisect' | undefined;
    let alias: string | undefined;
    let revisionWalk = false;
    for (; j < words.length; j++) {
      const w = words[j]!;
      // git's `--end-of-options` ends them where `--` would start paths (`git log --end-of-options "$1"`).
      if (w.literal === '--' || (name === 'git' && subcommand && w.literal === '--end-of-options')) return;
      if (dataOption(w, spec)) {
        this.add('option', `${name} ${w.raw}`);
        return;
      }
      // An option word whose name is quoted with its data (`"--to-command=$1"`, `"-I$1"`) is read as written
      // without the quotes before the data: the shell drops them.
      const lead = w.literal === undefined ? textBeforeData(w) : undefined;
      const quoted = lead !== undefined && /^-./.test(lead) && !/^-./.test(w.raw);
      if (alias !== undefined && w.expansions > 0 && (/^-./.test(w.literal ?? w.raw) || quoted)) {
        this.add('reparse', `git ${alias} ${w.raw} (an alias, maybe)`);
        return;
      }
      if (/^-./.test(w.literal ?? w.raw) || quoted) {
        // The word as the program reads it, with the word after it (its value, maybe): a copy of these two only,
        // since copying the whole command for each such word took seconds on a long one.
        const renamed: Word | undefined = quoted
          ? { raw: lead + w.raw.slice(w.raw.search(/[$`]/)), literal: undefined, expansions: w.expansions }
          : name === 'zip' && w.literal === '-TT'
            ? { raw: '--unzip-command', literal: '--unzip-command', expansions: 0 }
            : undefined;
        let o = renamed === undefined ? readOption(words, j, spec) : readOption(words[j + 1] === undefined ? [renamed] : [renamed, words[j + 1]!], 0, spec);
        // `git log --sin "$1"`, `git log -pn "$1"`: no value taken, the word after is read as an option.
        if (revisionWalk && o.values.some((v) => !v.joined && v.name !== w.literal)) o = { end: j, names: o.names, values: [] };
        // An option whose value is a command or a program's code, given data (`tar --to-command="$1"`).
        const code = o.values.find((v) => codes?.includes(v.name) && v.value !== undefined && v.value.expansions > 0);
        if (code !== undefined) {
          this.add('reparse', `${name} ${renamed === undefined || quoted ? code.name : w.literal} ${quoted && code.joined ? w.raw : code.value!.raw}`);
          return;
        }
        j = renamed === undefined ? o.end : j + o.end;
      }
      else if (!subcommand) {
        // git's subcommand: its own options taking a value from here on.
        subcommand = true;
        const sub = w.literal ?? '';
        spec = optionSpec(own(program.subcommands, sub) ?? NO_OPTION_ARGS);
        codes = own(program.subcommandCode, sub);
        // A subcommand git does not ship may be an alias (`alias.f = fetch`: `git f --upload-pack="$1"` runs it):
        // any of its options with data is taken for one whose value is code.
        if (!GIT_SUBCOMMANDS.has(sub) && !Object.hasOwn(program.subcommands!, sub)) alias = w.raw;
        revisionWalk = REVISION_WALKERS.has(sub);
        // rev-parse's options only print (`git rev-parse --verify "$1"` with `--git-dir` prints the folder): none
        // writes a file or runs a command, so data among them is no option to fear.
        if (GIT_PRINTERS.has(sub)) return;
        if (w.literal === 'config') config = 'options';
        if (w.literal === 'submodule' || w.literal === 'bisect') runner = w.literal;
      } else if (runner !== undefined) {
        // `git submodule foreach CMD`, `git bisect run CMD`: a single word is run by a shell, and the first names
        // the command anyway (a command-name word with data is code, as the check says of any program).
        if (w.literal === (runner === 'submodule' ? 'foreach' : 'run')) {
          const cmd = words.slice(j + 1).find((x) => !/^-./.test(x.literal ?? ''));
          if (cmd !== undefined && cmd.expansions > 0) this.add('reparse', `git ${runner} ${w.literal} ${cmd.raw}`);
          return;
        }
        if (!/^-./.test(w.literal ?? '-x')) runner = undefined;
      } else if (config === 'options' && GIT_CONFIG_ACTIONS.has(w.literal ?? '')) config = 'action';
      else if (config !== 'no') {
        // The key: data as the value of one git runs as a command, or of a key data names, is code (`git config
        // core.sshCommand "$1"` runs it at the next fetch).
        const value = words[j + 1];
        if (value !== undefined && value.expansions > 0 && (w.literal === undefined || GIT_CODE_KEYS.test(w.literal))) this.add('reparse', `git config ${w.raw} ${value.raw}`);
        return;
      }
    }
  }

  private checkCommand(cmd: Cmd, fromStdin: boolean, piped = false): void {
    if (this.arrayWords) {
      // `a=(["$1"]=x)`: an indexed array's subscript is arithmetic.
      for (const w of cmd.words) if (/^\[[^\]]*[$`][^\]]*\]\+?=/.test(w.raw)) this.add('arithmetic', w.raw);
      return;
    }
    if (cmd.pattern) return;
    // A command in a function's body reads what a call's stdin holds: kept, to be checked again as reading data when a
    // call is piped data (`f() (xargs tar -xf x.tar); echo "$1" | f`).
    const fn = cmd.fn ?? this.bodyFn;
    this.checkingFn = fn;
    if (fn !== undefined && !this.shared.rechecking && this.findNesting === 0) {
      const bodies = this.shared.fnBodies.get(fn);
      if (bodies === undefined) this.shared.fnBodies.set(fn, [{ reader: this, cmd }]);
      else bodies.push({ reader: this, cmd });
    }
    // bash runs command_not_found_handle with any command it cannot find and its arguments (`nosuch eval "$1"`).
    if (cmd.fn === 'command_not_found_handle') this.add('reparse', 'command_not_found_handle (runs every command not found)');
    const { words } = cmd;
    let i = 0;
    for (;;) {
      const w = words[i];
      if (w === undefined) break;
      const lit = w.raw === w.literal ? w.literal : undefined;
      if (lit !== undefined && ['command', 'builtin', 'exec', 'time'].includes(lit)) {
        // `command -p`, `exec -a name`, `time -p`: their options come before the command; exec's -a and GNU
        // time's -f and -o take a value, in a cluster too (`exec -ca x CMD`; dash runs /usr/bin/time: `time -f %e CMD`).
        i++;
        const spec = lit === 'exec' ? EXEC_OPTIONS : lit === 'time' ? optionSpec(WRAPPER_TAILS.time!.args) : NO_OPTIONS;
        while (words[i]?.literal?.startsWith('-')) {
          if (words[i]!.literal === '--') {
            i++;
            break;
          }
          i = readOption(words, i, spec).end + 1;
        }
        continue;
      }
      if (lit !== undefined && RESERVED.has(lit)) {
        i++;
        continue;
      }
      if (isAssignment(w)) {
        this.checkAssignment(w);
        i++;
        continue;
      }
      break;
    }
    if (i >= words.length) {
      // A redirection of a group, a subshell, a loop (`{ echo "$1"; } > f`, `done > f`) or of the shell itself
      // (`exec > f`): the file gets whatever the commands in it print. A path built from data counts by its
      // literal last component, as for any command (`{ echo "$1"; } > "$HOME/x.sh"; cd; sh x.sh`).
      for (const w of cmd.writes) this.shared.written.addWord(w);
      return;
    }
    const name = words[i]!.literal;
    const args = words.slice(i + 1);
    if (name === 'unset') this.shared.unsets = true;
    // Data on its stdin, or a file of data there: a function of that name reads it in its body.
    const stdinWord = cmd.stdin?.kind === 'file' ? cmd.stdin.word : undefined;
    if (name !== undefined && (fromStdin || (stdinWord !== undefined && (stdinWord.expansions > 0 || this.shared.written.has(stdinWord.literal!) || processFile(stdinWord.literal!))))) this.shared.stdinCalls.push(name);
    const anyExpansion = (ws: Word[]) => ws.some((w) => w.expansions > 0);
    const base = (w: Word | undefined) => (w?.literal ?? '').replace(/^.*\//, '');
    // The command behind wrappers (`sudo tee f`, `timeout 5 retry "$1"`).
    let at = i;
    // The first xargs among them, and the command it runs: what it reads becomes that command's arguments.
    let xargs: { at: number; command: number } | undefined;
    for (;;) {
      // `/bin/ba[s]h -c "$1"`, `{eval,:} "$1"`, `sudo e{v,}al "$1"`: a command named by a pattern is not the name read here.
      if (words[at]!.literal !== undefined && patternWord(words[at]!.raw)) {
        this.add('reparse', `${words[at]!.raw} (a command named by a pattern)`);
        return;
      }
      // A wrapper named by its path is that wrapper (`/usr/bin/env tar …`, `/usr/bin/sudo cp …`).
      // Every wrapper in a row is read (`nice nice … nice eval "$1"`: past the eighth, eval went unread and passed).
      if (!Object.hasOwn(WRAPPER_TAILS, base(words[at]))) break;
      const t = this.wrapperCommand(words, at, WRAPPER_TAILS[base(words[at])]!);
      if (t === -1 || words[t]!.literal === undefined) break;
      if (XARGS.has(base(words[at]))) xargs ??= { at, command: t };
      at = t;
    }
    if (words[at]!.literal !== undefined && anyExpansion(words.slice(at + 1))) this.shared.calls.push({ name: words[at]!.literal!, args: words.slice(at + 1) });
    if (words[at]!.literal !== undefined && anyExpansion(words.slice(at + 1))) this.optionData(words, at);
    if (xargs !== undefined && words[at]!.literal !== undefined) {
      // `echo "$1" | xargs tar -xf x.tar`: the data is the program's last arguments (or the words holding -I's
      // string), split at blanks, where a value starting with - is an option. With `-a FILE` xargs reads FILE
      // instead: data when data names it or the command wrote it (`echo "$1" > /tmp/l; xargs -a /tmp/l tar …`,
      // as `psql -f` of a written file is code), erring towards refusing for a pattern.
      const { words: made, file } = xargsWords(words, xargs.at, xargs.command);
      // Without -a it reads stdin: a pipe or here-string with data, or a file redirected there that data names, that the
      // command wrote or that a process substitution prints (`xargs tar -xf x.tar < /tmp/l`, `< <(echo "$1")`).
      const dataFile = (f: Word) => f.expansions > 0 || (f.literal !== undefined && (patternWord(f.raw) || this.shared.written.has(f.literal) || processFile(f.literal)));
      const stdinFile = cmd.stdin?.kind === 'file' ? cmd.stdin.word : undefined;
      const reads = file === undefined ? fromStdin || (stdinFile !== undefined && dataFile(stdinFile)) : dataFile(file);
      if (reads) {
        this.optionData(made, at);
        // `echo "$1" | xargs sudo`, `xargs -I{} timeout 5 {}`: a wrapper then runs what xargs reads, and a wrapper's
        // option may read it as code (`xargs -I{} systemd-run -p {} …`).
        for (let t = xargs.command; t !== -1; ) {
          if (made[t]!.literal === undefined) {
            this.add('reparse', `${made[t]!.raw} (a command named by what xargs reads)`);
            break;
          }
          if (!Object.hasOwn(WRAPPER_TAILS, base(made[t]))) break;
          t = this.wrapperCommand(made, t, WRAPPER_TAILS[base(made[t])]!);
        }
      }
    }
    const literalText = cmd.stdin === undefined || (cmd.stdin.kind === 'heredoc' && !cmd.heredocs.some((d) => d.expands)) || (cmd.stdin.kind === 'herestring' && cmd.stdinExpansions === 0);
    // What the command writes to files holds data unless it is literal text (`cat > f <<'EOF'`, `echo ok > f`).
    const literalWriter = !fromStdin && !piped && !anyExpansion(words) && literalText && ['echo', 'printf', 'cat', 'tee', ':', 'true'].includes(name ?? '') && (name !== 'cat' || args.length === 0);
    const written = this.shared.written;
    // A path built from data (`"$HOME/x.sh"`): its literal last component, when it has one, or its literal folder.
    const write = (w: Word) => written.addWord(w);
    // `ln -s /dev/stdin /tmp/h{,}`, `ln -s {/dev/stdin,/tmp/s}`, `> {/tmp/y,}`: the files bash's brace expansion
    // names (`cp /etc/app.conf{,.bak}` copies to /etc/app.conf.bak); one with quotes or expansions in it is refused.
    const braces = (ws: Word[]) =>
      ws.flatMap((w) => {
        if (!braceWord(w.raw)) return [w];
        const expanded = w.raw === w.literal ? expandBraces(w.literal) : undefined;
        if (expanded === undefined) {
          this.add('reparse', `${w.raw} (a file named by a brace expansion)`);
          return [w];
        }
        return expanded.map((x) => ({ raw: x, literal: x, expansions: 0 }));
      });
    if (!literalWriter) {
      braces(cmd.writes).forEach(write);
      // A program named by its path is that program (`/bin/cp "$1" /etc/cron.d/x`, `/usr/bin/tee`).
      const name = words[at]!.literal?.replace(/^.*\//, '');
      const args = ['ln', 'cp', 'mv', 'rsync', 'tee', 'install', 'dd', 'curl', 'wget'].includes(name ?? '') ? braces(words.slice(at + 1)) : words.slice(at + 1);
      const operands = args.filter((w) => !(w.literal ?? '').startsWith('-')).map((w) => (w.literal === undefined ? w : { ...w, raw: w.raw.replace(/^(if|of)=/, ''), literal: w.literal.replace(/^(if|of)=/, '') }));
      if (name === 'tee') operands.forEach(write);
      // `ln -s /dev/stdin /tmp/s`, `ln -s -t /tmp /dev/stdin`, `ln -s /dev/stdin` (./stdin), `cp -s …`: the link's name is then a descriptor's path.
      // `mv /dev/stdin /tmp/s` and `rsync -a /dev/stdin /tmp/s` move or copy the link itself.
      if (name === 'ln' || name === 'cp' || name === 'mv' || name === 'rsync') for (const link of descriptorLinks(args, name, this.shared.fdLinks)) this.shared.fdLinks.add(link);
      // A copy of a file the command wrote, or of data: `cp /tmp/a /tmp/b.sh`, `curl -o f "$1"`. cp, mv, install,
      // ln and rsync write their last operand only (without -t/--target-directory), with what their other operands
      // hold: data when one holds an expansion, is a file the command wrote, or is under /proc
      // (`cp /proc/self/environ …` copies the SELFHEAL_PARAM_* values); a copy of a literal file under a name
      // with an expansion in it holds that file (`cp /etc/crontab "/etc/crontab.bak.$(date +%F)"`).
      const copier = name === 'cp' || name === 'mv' || name === 'install' || name === 'ln' || name === 'rsync';
      // Their operands without the options' values, wherever those come (`install "$1" /etc/cron.d/x -m 644`), and
      // the folder of -t/--target-directory in any spelling (`-t/etc/cron.d`, `--target-directory=/etc/cron.d`).
      const copy = copier ? copyOperands(args, name) : undefined;
      const destinationOnly = copy !== undefined && copy.folder === undefined && copy.operands.length >= 2;
      const sources = copy === undefined ? operands : destinationOnly ? copy.operands.slice(0, -1) : copy.operands;
      // A relative source may be under /proc too: climbing back to it, or after a `cd` to /proc, / or data.
      const procFile = (l: string) => (l.startsWith('/') ? /^\/proc(\/|$)/.test(normalise(l)) : this.shared.cdAway || l.split('/').includes('proc'));
      const holdsData = (w: Word) => w.expansions > 0 || (w.literal !== undefined && (written.has(w.literal) || written.holds(w.literal) || procFile(w.literal)));
      // dd reads its if= file as cp its source: `dd if=/proc/self/environ of=/etc/cron.d/x` copies the values.
      const ddProc = name === 'dd' && args.some((w) => w.literal !== undefined && w.literal.startsWith('if=') && procFile(w.literal.slice(3)));
      const dataIn = copy !== undefined ? sources.some(holdsData) || (!destinationOnly && anyExpansion(args)) : anyExpansion(args) || ddProc || operands.some((w) => w.literal !== undefined && written.has(w.literal));
      if (['cp', 'mv', 'install', 'ln', 'dd', 'curl', 'wget', 'rsync'].includes(name ?? '') && (dataIn || fromStdin)) {
        if (copy === undefined) operands.forEach(write);
        else if (destinationOnly) write(copy.operands.at(-1)!);
        else if (copy.folder !== undefined) write(copy.folder);
        else copy.operands.forEach(write);
        args.forEach((w, k) => {
          if (/^(-o|--output|-O|--output-document)$/.test(w.literal ?? '') && args[k + 1] !== undefined) write(args[k + 1]!);
        });
      }
      const sqlOutputs = own(SQL_OUTPUTS, name ?? '');
      if (sqlOutputs !== undefined && (anyExpansion(args) || fromStdin || !literalText)) {
        for (const v of optionValues(args, 0, optionSpec(own(OPTION_PROGRAMS, name!)!.args))) if (sqlOutputs.includes(v.name) && v.value !== undefined) write(v.value);
      }
      if (name === 'git' && anyExpansion(args)) {
        // `git log/diff/show/format-patch --output=FILE` writes what it prints there, with data in the command (a
        // revision, a path, a pattern) choosing it: a file like curl's -o one (`--output="/etc/cron.d/$1"`).
        args.forEach((w, k) => {
          if (w.literal === '--output' && args[k + 1] !== undefined) write(args[k + 1]!);
          else if (w.raw.startsWith('--output=')) write(w.literal === undefined ? { ...w, raw: w.raw.slice('--output='.length) } : { ...w, raw: w.raw.slice('--output='.length), literal: w.literal.slice('--output='.length) });
        });
      }
    }
    const prev = words[i - 1];
    if (prev !== undefined && prev.raw === prev.literal && (prev.literal === 'for' || prev.literal === 'select')) {
      // `for NAME in words`, `for NAME` (the arguments): the loop fills NAME with each word.
      const inAt = words.findIndex((w, k) => k > i && w.literal === 'in');
      if (name !== undefined && (inAt === -1 || anyExpansion(words.slice(inAt + 1)))) this.checkFilled(name, `${prev.literal} ${name}`);
      return;
    }
    if (words[i]!.expansions > 0) {
      const positional = /^"\$\{?([@*1-9])\}?"$/.exec(words[i]!.raw)?.[1];
      if (cmd.fn !== undefined && positional !== undefined) {
        // `retry() { "$@"; }`: the function's arguments, checked where it is called.
        const n = /[@*]/.test(positional) ? 1 : Number(positional);
        this.shared.runners.set(cmd.fn, Math.max(n, this.shared.runners.get(cmd.fn) ?? 0));
        return;
      }
      // `"$1" args`, `$cmd`, `"$@"`: the data (or a copy of it) names the command to run.
      this.add('reparse', `${words[i]!.raw} (a command named by data)`);
      return;
    }
    if (name === 'shift' && cmd.fn !== undefined) this.shared.shifts.add(cmd.fn);
    if (name === 'cd' || name === 'pushd') {
      const target = args.find((w) => !/^-[LPe@]+$/.test(w.literal ?? ''));
      if (target !== undefined && (target.literal === undefined || !target.literal.startsWith('/') || climbsBack(target.literal) || target.literal.split('/').some((c) => c !== '' && this.shared.fdLinks.has(c)) || /^\/((dev|proc)(\/|$)|$)/.test(normalise(target.literal)))) this.shared.cdAway = true;
    }
    // A file run by its path, or by its name from a folder of PATH the command wrote it to.
    if (name !== undefined && !RESERVED.has(name)) this.runsFile(words[i], name, true);
    // A program read from stdin or a descriptor. A here-document without expansions read by a shell is a
    // command text; a descriptor the command inherits (from a group, a function, `exec`, `eval`, an `sh -c`
    // string, `<&3`, `/dev/fd/3`) may hold what the command fed anywhere else.
    const stdinProgram = (who: string, shell = false) => {
      if (fromStdin) this.add('reparse', `data on the stdin of ${who}`);
      const s = cmd.stdin;
      if (s?.kind === 'file' && s.word !== undefined && s.word.expansions > 0) this.add('reparse', `${who} < ${s.word.raw}`);
      else if (fromStdin) {
        // Reported above.
      } else if (s === undefined || s.kind === 'dup' || (s.kind === 'file' && (stdinPath(s.word?.literal ?? '') || this.descriptor(s.word?.literal ?? '', `${who} <`)))) this.shared.inherits.push(who);
      else if (s.kind === 'file') this.runsFile(s.word, `${who} < ${s.word?.raw ?? ''}`);
      if (shell) for (const d of cmd.heredocs) if (!d.expands && d.body !== undefined) this.readCommandText(d.body, false);
    };
    const readsStdin = (who: string) => stdinProgram(who, true);
    // A file of options or code named by curl -K, wget --config or psql -f: stdin (`-K -`, `--config=/dev/stdin`), a
    // descriptor, or a file the command wrote, is read like awk -f's (`echo "$1" | curl -K - …` takes an `output` line).
    const fileOptions = own(CODE_FILE_OPTIONS, base(words[at]));
    if (fileOptions !== undefined) {
      for (const v of optionValues(words, at + 1, optionSpec(own(OPTION_PROGRAMS, base(words[at]))!.args))) {
        if (!fileOptions.includes(v.name) || v.value?.literal === undefined) continue;
        const who = `${base(words[at])} ${v.name}`;
        // curl and wget count their operands among the files they write (`curl -K /etc/fix/curlrc …` is no copy).
        if (base(words[at]) === 'psql') this.programFile(v.value, who, stdinProgram);
        else if (stdinPath(v.value.literal)) stdinProgram(who);
        else if (this.descriptor(v.value.literal, `${who} ${v.value.raw}`)) this.shared.inherits.push(`${who} ${v.value.raw}`);
      }
    }
    // psql, mysql and mariadb without their SQL in an option read it from stdin: data piped or here-stringed there, or
    // a file data names or the command wrote, is SQL data chose (`echo "$1" | psql -d app`; the data belongs in a
    // psql variable: `psql -v host="$1" <<'SQL'` … `:'host'`).
    const sqlOptions = own(STDIN_SQL, base(words[at]));
    if (sqlOptions !== undefined) {
      let given = false;
      // psql's SQL the check can see: -c's, and a here-document's or here-string's without expansions.
      const scripts: { sql: string; stdin: boolean }[] = [];
      for (const v of optionValues(words, at + 1, optionSpec(own(OPTION_PROGRAMS, base(words[at]))!.args))) {
        if (!sqlOptions.includes(v.name)) continue;
        given = true;
        // SQL given in the option may include a file: psql's `\i`/`\ir`/`\include`, mysql's `source`/`\.` read it
        // as more SQL (`psql -c '\i /dev/stdin' <<< "$1"`, `mysql -e 'source /tmp/q.sql'` after writing it).
        if (v.value?.literal === undefined) continue;
        if (v.name === '-c' || v.name === '--command') scripts.push({ sql: v.value.literal, stdin: false });
        for (const m of v.value.literal.matchAll(SQL_INCLUDES)) {
          const f = m[2] ?? m[3] ?? '';
          if (f !== '') this.programFile({ raw: f, literal: f, expansions: 0 }, `${base(words[at])} ${v.name} ${m[1]}`, stdinProgram);
        }
      }
      const who = base(words[at]);
      const s = cmd.stdin;
      if (who === 'psql') {
        if (s?.kind === 'heredoc') for (const d of cmd.heredocs) if (!d.expands && d.body !== undefined) scripts.push({ sql: d.body, stdin: true });
        if (s?.kind === 'herestring' && s.word?.literal !== undefined) scripts.push({ sql: s.word.literal, stdin: true });
        // Data in the command (`-v h="$1"`, a database name), or read from the environment by `\getenv`.
        this.psqlScripts(scripts, anyExpansion(words) || scripts.some((x) => /\\getenv\b/.test(x.sql)), stdinProgram);
      }
      if (given) {
        // Its SQL is the option's.
      } else if (fromStdin) this.add('reparse', `data on the stdin of ${who}`);
      else if (s?.kind === 'file' && s.word !== undefined && s.word.expansions > 0) this.add('reparse', `${who} < ${s.word.raw}`);
      // Its stdin inherited (from a group, an `if`, a function, `exec`): what the command fed there may be data
      // (`{ psql -d app; } <<< "$1"`), as for a shell reading its program there.
      else if (s === undefined || s.kind === 'dup' || (s.kind === 'file' && (stdinPath(s.word?.literal ?? '') || this.descriptor(s.word?.literal ?? '', `${who} <`)))) this.shared.inherits.push(who);
      else if (s?.kind === 'file') this.runsFile(s.word, `${who} < ${s.word?.raw ?? ''}`);
    }
    // sqlite3 [options] DB [SQL…] runs its SQL operands, or reads SQL from stdin without one, and mongosh runs its
    // --eval code, its .js files, or what it reads on stdin: `.shell`/`.system` (sqlite3) and `require('child_process')`
    // (mongosh) run commands. Data in any of their words but a database name with text of its own before the data
    // (`sqlite3 "/var/db/$1.db" 'select 1'`) is refused; sqlite3 reads options anywhere (`-cmd "$1"`).
    // chmod's mode, chown's owner, chgrp's group and setcap's capabilities chosen by data: `4755` on a root-owned
    // program, `root` for a file the service runs, `cap_setuid+ep`, like install's -m/-o/-g (`chmod "$1" /usr/local/bin/fix`).
    const permission = base(words[at]);
    if (PERMISSION_SETTERS.has(permission)) {
      for (let j = at + 1; j < words.length; j++) {
        const w = words[j]!;
        if (w.expansions === 0 && w.literal === '--') {
          const next = words[j + 1];
          if (next !== undefined && next.expansions > 0) this.add('reparse', `${permission} ${next.raw}`);
          break;
        }
        if (w.expansions > 0) {
          this.add('reparse', `${permission} ${w.raw}`);
          break;
        }
        // Options (setcap's -n takes a value); chmod's `-x`, `-w`… are modes as much as options, and end the search.
        if (permission === 'setcap' && w.literal === '-n') j++;
        else if (!/^-./.test(w.literal!) || (permission === 'chmod' && /^-[rwxXst]+$/.test(w.literal!))) break;
      }
    }
    const shellClient = base(words[at]);
    if (SQL_SHELLS.has(shellClient)) {
      const values = shellClient === 'sqlite3' || shellClient === 'sqlite' ? SQLITE_VALUES : MONGO_VALUES;
      let operands = 0;
      let given = false;
      // mongosh (and mongo) take a first operand ending in .js or .mongodb for a script file, not a database, unless it
      // starts with mongodb:// or mongodb+srv://; with --nodb it is always one (`mongosh "app_$1"` runs `app_x.js`).
      const nodb = values === MONGO_VALUES && words.some((x, k) => k > at && /^--?nodb$/.test(x.literal ?? ''));
      // A literal script file stops the stdin being read, unless it is a connection string (`mongodb://h/x.js` is
      // a database), `.mongodb` given to the old `mongo` (a database there), or `--shell` (stdin read after it).
      const shellAfter = values === MONGO_VALUES && words.some((x, k) => k > at && /^--?shell$/.test(x.literal ?? ''));
      const scriptFile = (lit: string) => !shellAfter && !/^mongodb(\+srv)?:\/\//.test(lit) && (shellClient === 'mongo' ? /\.js$/ : /\.(js|mongodb)$/).test(lit);
      for (let j = at + 1; j < words.length; j++) {
        const w = words[j]!;
        const lit = w.literal ?? '';
        const option = /^-./.test(lit) ? lit.replace(/=.*$/s, '') : undefined;
        if (option !== undefined && values.includes(option.replace(/^--/, '-'))) {
          const value = lit.includes('=') ? w : words[++j];
          if (/^--?(eval|cmd|file|f)$/.test(option)) given ||= !/^--?cmd$/.test(option);
          if (value !== undefined && value.expansions > 0) this.add('reparse', `${shellClient} ${option} ${value.raw}`);
          else if (value !== undefined && /^--?(init|file|f)$/.test(option)) this.programFile(value, `${shellClient} ${option}`, stdinProgram);
          continue;
        }
        if (w.expansions === 0 && option !== undefined) continue;
        operands++;
        const before = textBeforeData(w);
        const after = w.expansions > 0 ? textAfterData(w) : '';
        if (w.expansions > 0 && !(operands === 1 && before !== undefined && before !== '' && !before.startsWith('-'))) this.add('reparse', `${shellClient} ${w.raw}`);
        else if (w.expansions > 0 && values === MONGO_VALUES && (nodb || (!/^mongodb(\+srv)?:\/\//.test(before ?? '') && ['.js', '.mongodb'].some((e) => after.endsWith(e) || e.endsWith(after))))) {
          this.add('reparse', `${shellClient} ${w.raw} (a script file when it ends in .js)`);
        } else if (values === MONGO_VALUES ? (operands > 1 && !shellAfter) || scriptFile(lit) : operands > 1) given = true;
        if (operands > 1 && values === MONGO_VALUES && w.literal !== undefined) this.programFile(w, shellClient, stdinProgram);
      }
      if (!given) stdinProgram(shellClient);
    }
    // Start-up files a shell runs before its program: `BASH_ENV=/dev/stdin bash -c :`, `ENV=/tmp/y sh -i`,
    // `bash --rcfile /tmp/y -i` (also behind env, export and wrappers): programs read from that path.
    // ENV is read by interactive shells only (`sh -i`; bash reads BASH_ENV otherwise), and is everyday
    // deployment wording (`ENV=prod ./run.sh "$1" | logger`): counted when exported or beside an -i.
    const interactive = name === 'export' || words.some((x) => /^-[A-Za-z]*i[A-Za-z]*$/.test(x.literal ?? ''));
    words.forEach((w, k) => {
      if (/^ENV=/.test(w.literal ?? '') && !interactive) return;
      const value = /^(?:BASH_ENV|ENV)=(.*)$/s.exec(w.literal ?? '')?.[1] ?? (/^--(rcfile|init-file)$/.test(words[k - 1]?.literal ?? '') ? w.literal : undefined);
      if (value === undefined || value === '') return;
      const who = /^(BASH_ENV|ENV)=/.test(w.literal!) ? w.literal!.replace(/=.*/s, '') : words[k - 1]!.literal!;
      this.programFile({ raw: value, literal: value, expansions: 0 }, who, stdinProgram);
    });

    if (name === 'eval') {
      if (anyExpansion(args)) this.add('reparse', `eval ${args.map((w) => w.raw).join(' ')}`);
      else this.readCommandText(args.map((w) => w.literal).join(' '));
      return;
    }
    if (name === '.' || name === 'source') {
      // bash and dash end its options at `--` (`. -- /dev/stdin`): the file is the word after it. bash 5.3's
      // `-p PATH` looks the file up in PATH's folders instead of $PATH: each folder's file is the one read.
      let k = 0;
      let search: string | undefined;
      for (; k < args.length && /^-./.test(args[k]!.literal ?? ''); k++) {
        const l = args[k]!.literal!;
        if (l === '--') {
          k++;
          break;
        }
        if (l === '-p') search = args[++k]?.literal ?? '';
        else if (l.startsWith('-p')) search = l.slice(2);
      }
      const file = args[k];
      const candidates = search === undefined || file?.literal === undefined ? [file] : search.split(':').map((d) => (d === '' ? file : { raw: `${d.replace(/\/+$/, '')}/${file.literal}`, literal: `${d.replace(/\/+$/, '')}/${file.literal}`, expansions: 0 }));
      if (anyExpansion(args)) this.add('reparse', `${name} ${args.map((w) => w.raw).join(' ')}`);
      else {
        for (const f of candidates) {
          if (stdinPath(f?.literal ?? '')) readsStdin(name);
          else if (this.descriptor(f?.literal ?? '', `${name} ${f?.raw}`)) this.shared.inherits.push(`${name} ${f!.raw}`);
          else this.runsFile(f, `${name} ${f?.raw ?? ''}`);
        }
      }
      return;
    }
    if (name === 'read' || name === 'mapfile' || name === 'readarray' || name === 'getopts' || (name === 'printf' && /^-v/.test(args[0]?.raw ?? '')) || name === 'unset') {
      // Variables filled (or named) without an assignment word: `read RANDOM <<< "$1"`, `printf -v PS4 …`,
      // `mapfile -C eval`; a name from data (`read "$1"`, `unset "$1"`) is a subscript bash evaluates, or any variable.
      const withArg: Record<string, string> = { read: 'adinNptu', mapfile: 'dnOsuCc', readarray: 'dnOsuCc', getopts: '', printf: 'v', unset: '' };
      const targets: Word[] = [];
      let callback: Word | undefined;
      let operands = 0;
      for (let j = 0, options = true; j < args.length; j++) {
        const w = args[j]!;
        const l = w.literal;
        if (options && l === '--') {
          options = false;
          continue;
        }
        if (options && /^-./.test(w.raw)) {
          // Option letters, the first that takes an argument taking the rest of the word or the next word (`-ra x`, `-vPS4`).
          const text = l ?? w.raw;
          for (let c = 1; c < text.length; c++) {
            const letter = text[c]!;
            if (!own(withArg, name)!.includes(letter)) continue;
            const joined = text.slice(c + 1);
            const value: Word | undefined = joined !== '' ? (l !== undefined ? { raw: joined, literal: joined, expansions: 0 } : { raw: w.raw.slice(c + 1), literal: undefined, expansions: w.expansions }) : args[++j];
            if (letter === 'a' || letter === 'v') targets.push(value ?? w);
            if (letter === 'C') callback = value;
            break;
          }
          continue;
        }
        operands++;
        // getopts OPTSTRING NAME [ARGS]; printf -v NAME FORMAT [ARGS]: only NAME is a variable.
        if (name === 'getopts' ? operands === 2 : name !== 'printf') targets.push(w);
      }
      if (name === 'mapfile' || name === 'readarray') {
        if (callback?.expansions) this.add('reparse', `${name} -C ${callback.raw}`);
        // The callback is run with an index and the line read: `mapfile -C eval` runs the data.
        else if (callback?.literal !== undefined) this.readCommandText(`${callback.literal} 0 "$1"`);
        if (targets.length === 0) targets.push({ raw: 'MAPFILE', literal: 'MAPFILE', expansions: 0 });
      }
      const filled = name !== 'printf' || anyExpansion(args);
      for (const t of targets) {
        if (t.expansions > 0) this.add('arithmetic', `${name} ${t.raw}`);
        else if (filled && name !== 'unset') this.checkFilled(t.literal!, `${name} ${t.raw}`);
      }
      return;
    }
    if (name !== undefined && ['compgen', 'complete', 'bind', 'fc', 'enable', 'hash', 'alias'].includes(name)) {
      // Builtins that run or expand a string: `compgen -W "$1"` expands the word list (its $(…) runs),
      // `complete -C`, `bind -x`, `fc -e` (an editor), `enable -f` (a shared object), `hash -p` (where a name
      // runs from), `alias` (dash expands aliases in scripts: `alias e=eval`).
      if (name === 'alias' && args.some((w) => w.raw.includes('='))) this.add('reparse', `alias ${args.map((w) => w.raw).join(' ')}`);
      else if (anyExpansion(args)) this.add('reparse', `${name} ${args.map((w) => w.raw).join(' ')}`);
      else if (args.some((w, k) => /^-[A-Za-z]*W$/.test(args[k - 1]?.literal ?? '') && /[$`]/.test(w.literal ?? ''))) this.add('reparse', `${name} -W`);
      else if (name === 'enable') args.forEach((w, k) => args[k - 1]?.literal === '-f' && this.runsFile(w, `enable -f ${w.raw}`));
      return;
    }
    if (name === 'trap') {
      // trap's action is a command text, run when the signal comes.
      const action = args.find((w) => !/^-/.test(w.literal ?? 'x'));
      if (action !== undefined && action.expansions > 0) this.add('reparse', `trap ${action.raw}`);
      else if (action !== undefined && !/^-/.test(action.literal!)) this.readCommandText(action.literal!);
      return;
    }
    if (name === 'let') {
      for (const w of args) {
        if (w.expansions > 0) this.add('arithmetic', `let ${w.raw}`);
        else this.scanArithmeticText(w.literal!);
      }
      return;
    }
    if ((name === '[[' && words[i]!.raw === '[[') || name === 'test' || name === '[') {
      args.forEach((w, k) => {
        // -v names a variable, and bash evaluates a subscript in that name.
        if (w.literal === '-v' && args[k + 1] !== undefined && args[k + 1]!.expansions > 0) this.add('arithmetic', `-v ${args[k + 1]!.raw}`);
        if (name !== '[[') return;
        if (!ARITH_TEST_OPS.has(w.literal ?? '')) return;
        for (const side of [args[k - 1], args[k + 1]]) {
          if (side === undefined) continue;
          if (side.expansions > 0) this.add('arithmetic', `[[ ${side.raw} ${w.literal}`);
          else if (side.literal !== undefined && !/^[0-9]+$/.test(side.literal)) this.scanArithmeticText(side.literal);
        }
      });
      return;
    }
    if (name !== undefined && ['declare', 'typeset', 'local', 'export', 'readonly'].includes(name)) {
      // An integer (-i) or a name reference (-n) evaluates the value as arithmetic or a variable name.
      const integer = args.some((w) => /^-[A-Za-z]*[in]/.test(w.literal ?? ''));
      const ref = args.some((w) => /^-[A-Za-z]*n/.test(w.literal ?? ''));
      if (integer && anyExpansion(args)) this.add('arithmetic', `${name} ${args.map((w) => w.raw).join(' ')}`);
      for (const w of args) {
        const n = /^[A-Za-z_][A-Za-z0-9_]*/.exec(w.raw)?.[0];
        if (isAssignment(w)) this.checkAssignment(w);
        // `declare "$1"`, `export "$1"=x`: a variable named by data (PS4, PATH, a subscript bash evaluates).
        else if (w.expansions > 0 && !/^["']?[A-Za-z_][A-Za-z0-9_]*\+?=/.test(w.raw)) this.add('reparse', `${name} ${w.raw}`);
        if (ref && n !== undefined) this.refs.add(n);
        else if (integer && n !== undefined) this.integers.add(n);
      }
      return;
    }
    // Over-refusing: a shell named anywhere (`docker exec web sh -c …`, `ip netns exec n sh -c …`) with -c runs its string.
    const asCommand = (k: number) => k === i || WRAPPERS.has(base(words[i]));
    // Where the next -c (or -S) word is, found once for the whole command (not per word: `x sh sh sh …`).
    // `--command=` is read on the raw word: with data joined to it (`su --command="$1"`) it has no literal.
    const isC = (w: Word) => /^-[A-Za-z]*c[A-Za-z]*$/.test(w.literal ?? '') || /^--command(=|$)/.test(w.raw);
    const isInterpreter = (b: string) => interpreterKey(b) !== undefined;
    const parser = (b: string) => SHELL_ARGS.has(b) || SHELLS.has(b) || C_RUNNERS.has(b) || isInterpreter(b) || AWKS.has(b) || SEDS.has(b) || b === 'env' || b === 'eval' || b === 'source' || b === '.';
    const nextC: number[] = [];
    for (let k = words.length - 1, c = -1; k >= i; k--) {
      nextC[k] = c;
      if (isC(words[k]!)) c = k;
    }
    // Whether any word from each on carries an expansion, found once (a long command of pattern words).
    const expansionFrom: boolean[] = [];
    for (let k = words.length - 1, seen = false; k >= i; k--) {
      seen ||= words[k]!.expansions > 0;
      expansionFrom[k] = seen;
    }
    // Whether a parser follows each word, found once too (`xargs xargs xargs … sh`).
    const parserAfter: boolean[] = [];
    for (let k = words.length - 1, seen = false; k >= i; k--) {
      parserAfter[k] = seen;
      seen ||= parser(base(words[k]));
    }
    // The first xargs reports what it reads; an xargs it runs reads the same stdin.
    let xargsRead = false;
    /**
     * env's -S / --split-string among its own options and assignments (not the `-sS` of the command it runs),
     * read as getopt reads them: the value of `-a x`, `-u NAME`, `-C DIR` is skipped (`env -a x -S "…$1"`), a
     * cluster ends at the letter taking a value (`-iS "…"`, but `-aS` names argv0 S), and a long option may be
     * cut short (`--split="…"`). Its option word, its string (undefined when missing; `joined` to the option word or
     * not), and the index of the word after the string.
     */
    const envS = (k: number): { opt: Word; text: Word | undefined; joined: boolean; after: number } | undefined => {
      const spec = optionSpec(WRAPPER_TAILS.env!.args);
      for (let j = k + 1; j < words.length; j++) {
        const w = words[j]!;
        if (w.literal === '--') return undefined;
        if (/^-./.test(w.raw)) {
          const o = readOption(words, j, spec);
          const split = o.values.find((v) => v.name === '-S' || v.name === '--split-string');
          if (split !== undefined) return { opt: w, text: split.value, joined: split.joined, after: o.end + 1 };
          j = o.end;
        } else if (!isAssignment(w)) return undefined;
      }
      return undefined;
    };
    const isCodeOption = (w: Word | undefined) => /^(-[A-Za-z]*[ceE]|--eval|--print)$/.test(w?.literal ?? '') || /^--eval=/.test(w?.raw ?? '');
    // The words of a find -exec's command, read with it (not as find's words).
    const inTail: boolean[] = [];
    for (let k = i; k < words.length; k++) {
      const b = base(words[k]);
      if (words[k]!.expansions > 0 || inTail[k]) continue;
      // A shell named anywhere by a pattern, followed by -c and data (`docker exec web /bin/ba[s]h -c "$1"`);
      // an option holding a pattern names no command (`tar --exclude=*.tmp -czf "$1.tgz"`).
      if (k > i && nextC[k] !== -1 && !words[k]!.raw.startsWith('-') && patternWord(words[k]!.raw) && expansionFrom[nextC[k]!] === true) {
        this.add('reparse', `${words[k]!.raw} (a command named by a pattern)`);
        return;
      }
      // An interpreter followed by its code option behind a command the check does not know (`foo python3 -c …`).
      if (!asCommand(k) && !((SHELLS.has(b) || C_RUNNERS.has(b)) && nextC[k] !== -1) && !(isInterpreter(b) && isCodeOption(words[k + 1]))) continue;
      const s = b === 'env' ? envS(k) : undefined;
      if (s?.text !== undefined) {
        // env -S / --split-string splits its argument into a command and its words, the words after it added
        // (so the word after the string is no command of env's: `env -S 'restart --quiet' "$1"`).
        const { opt, text } = s;
        const shown = `env ${s.joined ? opt.raw : `${opt.raw} ${text.raw}`}`;
        if (text.expansions > 0) {
          this.add('reparse', shown);
          return;
        }
        // It expands ${NAME} from the environment (`env -S 'sh -c ${SELFHEAL_PARAM_X}'`), and its own `#`
        // comments and `\c` are not the shell's: refused rather than read.
        if (text.literal!.includes('$')) {
          this.add('reparse', `${shown} (env expands \${…} itself)`);
          return;
        }
        if (/#|\\c/.test(text.literal!)) {
          this.add('reparse', `${shown} (env reads # and \\c itself)`);
          return;
        }
        // A literal string: split as env splits it (on [ \t\n\v\f\r], its quotes and escapes, `\_` its space),
        // each word handed on quoted on its own, so a newline there ends no command (`env -S $'sh\n-c' "$1"`);
        // the command it makes with the words after it is read as one (`env -S 'sh -c' 'eval "$1"' _ "$1"`).
        const split = envSplit(text.literal!);
        if (split === undefined) {
          this.add('reparse', `${shown} (env -S text the check does not read)`);
          return;
        }
        this.readCommandText(['env', ...split.map(shellQuote), ...words.slice(s.after).map((w) => w.raw)].join(' '));
        return;
      }
      const tail = own(WRAPPER_TAILS, b);
      if (tail !== undefined && words[k]!.raw === words[k]!.literal) {
        const t = this.wrapperCommand(words, k, tail);
        const shellOption = b === 'sudo' ? words.slice(k + 1, t === -1 ? words.length : t).find((w) => /^(-[A-Za-z]*[si][A-Za-z]*|--shell|--login)$/.test(w.literal ?? '')) : undefined;
        if (shellOption !== undefined && anyExpansion(words.slice(k + 1))) {
          // sudo -s/-i hands its command to a shell's -c.
          this.add('reparse', `sudo ${words.slice(k + 1).map((w) => w.raw).join(' ')}`);
          return;
        }
        // Without a command, sudo -s/-i runs a shell that reads its commands from stdin (`echo "$1" | sudo -s`).
        if (shellOption !== undefined && t === -1) {
          readsStdin(`sudo ${shellOption.raw}`);
          return;
        }
        if (t !== -1 && words[t]!.expansions > 0) {
          this.add('reparse', `${b} ${words[t]!.raw} (a command named by data)`);
          return;
        }
        if (t !== -1 && words[t]!.literal!.includes('/')) this.runsFile(words[t], words[t]!.literal!);
        if (XARGS.has(b) || b === 'parallel') {
          // xargs makes what it reads on stdin its command's arguments: a shell or interpreter there runs them
          // (`echo "$1" | xargs sh -c`). GNU parallel hands its command line to a shell.
          const wrapsParser = parserAfter[k]!;
          if (b === 'parallel' && (fromStdin || anyExpansion(words.slice(k + 1)))) this.add('reparse', `parallel ${words.slice(k + 1).map((w) => w.raw).join(' ')}`);
          else if (XARGS.has(b) && wrapsParser) {
            // Its arguments come from stdin, or from the file after -a (`-a f`, `-0a f`, `-af`, `--arg-file=f`).
            let file: { value: Word | undefined } | undefined;
            for (let j = k + 1; j < (t === -1 ? words.length : t) && file === undefined; j++) {
              if (words[j]!.literal === '--') break;
              if (!/^-./.test(words[j]!.raw)) continue;
              const o = readOption(words, j, optionSpec(tail.args));
              file = o.values.find((v) => v.name === '-a' || v.name === '--arg-file');
              j = o.end;
            }
            if (file === undefined) {
              if (!xargsRead) stdinProgram(`${b} ${words.slice(k + 1).map((w) => w.raw).join(' ')}`);
              xargsRead = true;
            }
            else this.programFile(file.value, `${b} -a`, stdinProgram);
          }
          if (b === 'parallel') return;
        }
      }
      if (b === 'find' && asCommand(k) && !inTail[k]) {
        // Each -exec/-execdir/-ok/-okdir's command runs to its `;` (or `{} +`), found in one pass. find puts each
        // found name in place of `{}`, inside a word too: the command is read as any other with a data word there,
        // so a name (which data may have made, here or by any other program) read as code, a program or an option
        // is refused (`-exec sh -c 'gzip {}' \;`, `-exec sed -n {} f \;`, `-exec sh -c -x {} \;`), and one passed
        // as an argument is not (`-exec sh -c '… "$1"' _ {} \;`, `-exec sh {} \;` runs the found file).
        for (let j = k + 1; j < words.length; j++) {
          const w = words[j]!;
          const command = words[j + 1];
          if (!/^-(exec|execdir|ok|okdir)$/.test(w.literal ?? '') || command === undefined) continue;
          let end = j + 1;
          while (end < words.length && words[end]!.literal !== ';' && !(words[end]!.literal === '+' && words[end - 1]!.literal === '{}')) end++;
          for (let m = j + 1; m < end; m++) inTail[m] = true;
          const tail = words.slice(j + 1, end);
          j = end;
          if (command.expansions > 0) {
            this.add('reparse', `find ${w.literal} ${command.raw} (a command named by data)`);
            continue;
          }
          if (++this.findNesting > MAX_DEPTH) throw new Unreadable(`find -exec nested deeper than ${MAX_DEPTH}`);
          const asData = tail.map((x, m) => (m > 0 && x.raw.includes('{}') ? { raw: x.raw, literal: undefined, expansions: x.expansions + 1, found: x.raw === '{}' } : x));
          const saved = this.shared.findings;
          const probe: ShellFinding[] = [];
          this.shared.findings = probe;
          try {
            this.checkCommand({ words: asData, writes: [], heredocs: [], otherExpansions: 0, stdinExpansions: 0, fn: cmd.fn }, fromStdin, piped);
          } finally {
            this.shared.findings = saved;
            this.findNesting--;
          }
          // What it reports of a found name is said once; what it reports of anything else as it is.
          for (const f of probe) if (!f.text.includes('{}')) this.add(f.kind, f.text);
          // The word shown: the first holding `{}` in more than a name of its own, else the first `{}`.
          const inWord = tail.findIndex((x, m) => m > 0 && x.raw.includes('{}') && x.raw !== '{}');
          const at = inWord !== -1 ? inWord : tail.findIndex((x, m) => m > 0 && x.raw === '{}');
          if (probe.some((f) => f.text.includes('{}'))) this.add('reparse', `find ${w.literal} ${tail.slice(0, at + 1).map((x) => x.raw).join(' ')} (a found name read as code)`);
        }
      }
      if (b === 'newgrp' && asCommand(k)) {
        // newgrp [-] [group] runs the user's login shell, which reads its commands from stdin (`echo "$1" | newgrp adm`).
        readsStdin(b);
        return;
      }
      if ((b === 'at' || b === 'batch') && asCommand(k)) {
        // at reads the commands it schedules from stdin, or from the file after -f.
        const f = words.findIndex((w, j) => j > k && w.literal === '-f');
        if (f === -1) stdinProgram(b);
        else this.programFile(words[f + 1], `${b} -f`, stdinProgram);
        return;
      }
      if (b === 'crontab' && asCommand(k)) {
        const rest = words.slice(k + 1);
        if (rest.some((w) => /^-[lrei]$/.test(w.literal ?? ''))) return;
        const operand = rest.find((w, j) => (!/^-/.test(w.literal ?? 'x') || w.literal === '-') && rest[j - 1]?.literal !== '-u');
        if (operand === undefined) stdinProgram(b);
        else this.programFile(operand, b, stdinProgram);
        return;
      }
      if (!(SHELL_ARGS.has(b) || SHELLS.has(b) || C_RUNNERS.has(b) || isInterpreter(b) || AWKS.has(b) || SEDS.has(b))) continue;
      const rest = words.slice(k + 1);
      if (SHELL_ARGS.has(b)) {
        // A found file's path (`-exec scp {} host:/x \;`) starts with find's start folder or `./`: a local file.
        if (anyExpansion(b === 'ssh' || b === 'watch' ? rest : rest.filter((w) => w.found !== true))) this.add('reparse', `${b} ${rest.map((w) => w.raw).join(' ')}`);
        else if (b === 'ssh' && sshReadsStdin(rest)) stdinProgram('ssh without a command');
        return;
      }
      if (b === 'sg') {
        // shadow's `sg [-] group [-c] command` hands the command to `/bin/sh -c` (`sg adm "restart $1"` runs the value
        // as code, like `su -c`).
        if (!asCommand(k) && nextC[k] === -1) continue;
        const group = rest.findIndex((w) => w.literal !== '-');
        const script = group === -1 ? undefined : rest.slice(group + 1).find((w) => w.literal !== '-c');
        // Without a command it runs the user's login shell, which reads its commands from stdin (`echo "$1" | sg adm`).
        if (script === undefined) {
          if (asCommand(k)) readsStdin(b);
          return;
        }
        if (script.expansions > 0) this.add('reparse', `sg ${rest[group]!.raw} ${script.raw}`);
        else this.readCommandText(script.literal!);
        return;
      }
      if (SHELLS.has(b) || C_RUNNERS.has(b)) {
        const c = nextC[k] === -1 ? -1 : nextC[k]! - k - 1;
        if (c !== -1) {
          const opt = rest[c]!;
          const script = opt.raw.startsWith('--command=') ? opt : rest.slice(c + 1).find((w) => !/^[-+]/.test(w.literal ?? 'x'));
          if (script === undefined) return;
          // The string's $0 is the first operand after it (after a `--` too, to be safe): data when that one is.
          const after = rest.slice(rest.indexOf(script) + 1);
          const zero = after[0]?.literal === '--' ? [after[0], after[1]] : [after[0]];
          if (script.expansions > 0) this.add('reparse', script === opt ? `${b} ${opt.raw}` : `${b} ${opt.raw} ${script.raw}`);
          else this.readCommandText(script.literal!.replace(/^--command=/, ''), zero.some((w) => w !== undefined && w.expansions > 0));
          return;
        }
        if (!asCommand(k)) continue;
        let shellArgs: Word[] | undefined = SHELLS.has(b) ? rest : undefined;
        if ((b === 'su' || b === 'runuser') && !rest.some((w) => /^(-u|--user)$/.test(w.literal ?? ''))) {
          // su [options] [-] [user [arguments]]: the arguments go to the user's shell (`su app "$1"` runs a file named by data).
          const user = rest.findIndex((w, j) => !/^-/.test(w.literal ?? 'x') && !/^(-s|--shell|-g|--group|-G|--supp-group|-w|--whitelist-environment)$/.test(rest[j - 1]?.literal ?? ''));
          shellArgs = user === -1 ? [] : rest.slice(user + 1);
        }
        if (shellArgs !== undefined) {
          // `-o pipefail`, `-O extglob`: options that take the next word.
          const at = shellArgs.findIndex((w, j) => (!/^[-+]/.test(w.literal ?? 'x') || w.literal === '-') && !/^[-+][A-Za-z]*[oO]$/.test(shellArgs[j - 1]?.literal ?? '') && !/^--(rcfile|init-file)$/.test(shellArgs[j - 1]?.literal ?? ''));
          const operand = shellArgs[at];
          // -s: the program comes from stdin and the operands are its arguments (`bash -s -- "$1" <<'EOF'`).
          const fromS = shellArgs.slice(0, at === -1 ? shellArgs.length : at).some((w) => /^-[A-Za-z]*s[A-Za-z]*$/.test(w.literal ?? ''));
          // `sh "$1"`, `bash <(…)`: a script named or written by data.
          if (fromS || operand === undefined || stdinPath(operand.literal ?? '')) readsStdin(b);
          else if (operand.found === true) return;
          else if (operand.expansions > 0) this.add('reparse', `${b} ${operand.raw}`);
          else if (this.descriptor(operand.literal!, `${b} ${operand.raw}`)) this.shared.inherits.push(`${b} ${operand.raw}`);
          else this.runsFile(operand, `${b} ${operand.raw}`);
          return;
        }
        continue;
      }
      if (isInterpreter(b)) {
        // The interpreter's own options, up to its first operand (a script's file; what follows is that
        // script's argv): every code option's program (`perl -e '1;' -e "$1"`), and any option with data
        // joined to it (`perl -e"…$1"`, `node --eval="$1"`: its value may be the program).
        // An option taking a separate value (`python3 -W ignore`, `ruby -r json`, `node --import x`) is not the
        // script: its value is skipped (one from data refused: a module or a library loaded is code too).
        const key = interpreterKey(b)!;
        const spec = own(INTERPRETER_OPTIONS, key) ?? { flags: '', values: '', code: 'ceEr', longCode: ['--eval', '--print'] };
        let code = false;
        // The word before may be the value of an option the lists do not know.
        let unknown: Word | undefined;
        // Words read as such values: each may be the script as well.
        const maybe: Word[] = [];
        let j = 0;
        for (; j < rest.length; j++) {
          const w = rest[j]!;
          if (!w.raw.startsWith('-') || w.raw === '-') {
            // perl, ruby, node, php, lua and expect read options on after a program or a script's file given by an
            // option (`perl -e 1 "$1"` with `-esystem…`, `php -f x.php "$1"` with `-B…`): data starting a word there
            // starts an option. python ends its options at `-c`'s program.
            if (code && key !== 'python' && key !== 'tclsh' && dataOption(w, NO_OPTIONS)) {
              this.add('option', `${b} ${w.raw}`);
              return;
            }
            if (unknown === undefined) break;
            if (w.expansions > 0 && w.found !== true) {
              this.add('reparse', `${b} ${unknown.raw} ${w.raw}`);
              return;
            }
            unknown = undefined;
            maybe.push(w);
            continue;
          }
          if (w.literal === '--') {
            j++;
            break;
          }
          if (w.expansions > 0) {
            this.add('reparse', `${b} ${w.raw}`);
            return;
          }
          const o = interpreterOption(w.literal!, spec);
          unknown = o.kind === 'unknown' ? w : undefined;
          if (!('joined' in o)) continue;
          code ||= o.kind !== 'value';
          if (o.joined) continue;
          const value = rest[j + 1];
          if (value !== undefined && value.expansions > 0) {
            this.add('reparse', `${b} ${w.raw} ${value.raw}`);
            return;
          }
          if (o.kind === 'file' && value !== undefined) {
            // The script's file (`expect -f /dev/stdin`, a file the command wrote), read as an operand script is.
            if (stdinPath(value.literal!)) stdinProgram(b);
            else if (this.descriptor(value.literal!, `${b} ${value.raw}`)) this.shared.inherits.push(`${b} ${value.raw}`);
            else this.runsFile(value, `${b} ${value.raw}`);
          }
          j++;
        }
        for (const w of maybe) if (w.found !== true) this.runsFile(w, `${b} ${w.raw}`);
        // lua runs its first operand as a script after its -e programs, and the word after `--` is one.
        if (code && (key !== 'lua' || rest[j] === undefined)) return;
        const operand = rest[j] ?? maybe.pop();
        if (operand === undefined || stdinPath(operand.literal ?? '')) stdinProgram(b);
        else if (operand.found === true) return;
        else if (operand.expansions > 0) this.add('reparse', `${b} ${operand.raw}`);
        else if (this.descriptor(operand.literal!, `${b} ${operand.raw}`)) this.shared.inherits.push(`${b} ${operand.raw}`);
        else this.runsFile(operand, `${b} ${operand.raw}`);
        return;
      }
      if (AWKS.has(b)) {
        // gawk's -e/--source hold the program's text and -E/--exec its file, in place of an operand; -i/--include
        // (and `@include "f"` in a program) read awk source looked up in AWKPATH, `.awk` added when not found, and
        // -l/--load (`@load "f"`) a shared library: programs read from a file, like -f's.
        const sources: Word[] = [];
        const files: Word[] = [];
        const includes: { file: Word; who: string }[] = [];
        const clustered: Word[] = [];
        let fromFile = false;
        let j = 0;
        for (; j < rest.length; j++) {
          const w = rest[j]!;
          if (w.literal === '--') {
            j++;
            break;
          }
          if (!/^-./.test(w.raw)) {
            // awk reads options up to its first operand, which is a file once -f, -e or -E gave the program:
            // `awk -f p.awk "$1"` with `-eBEGIN{system("id")}` ran id.
            if ((fromFile || sources.length > 0 || files.length > 0) && dataOption(w, AWK_OPTIONS)) {
              this.add('option', `${b} ${w.raw}`);
              return;
            }
            break;
          }
          // In a cluster of gawk's letters, -d, -D, -L, -o and -p take an optional value, the rest of their word
          // (`-dv` dumps to a file named v: the next word is the program), and -W the rest or the next word as
          // a -W's (`-bW x`); the first letter taking a value ends the cluster (getopt).
          let wAt = /^-W/.test(w.raw) ? 1 : -1;
          if (wAt === -1 && w.literal !== undefined && /^-[^-]/.test(w.literal)) {
            const at = w.literal.slice(1).search(/[dDLopWFvfeEilZ]/) + 1;
            if (at > 0 && 'dDLop'.includes(w.literal[at]!)) continue;
            if (at > 0 && w.literal[at] === 'W') wAt = at;
          }
          if (wAt !== -1) {
            // `-W name[=value]` is gawk's `--name[=value]` (a name may be cut short: `-W incl=f`, `-Wi f`), and
            // mawk's `-W exec file` reads its program from the file: `include`, `load`, `file`, `source` and
            // `exec` take a value, in the word after `=` or the next word.
            const opt = wAt + 1 >= (w.literal ?? w.raw).length ? rest[++j] : wordFrom(w, wAt + 1);
            if (opt === undefined) break;
            if (opt.expansions > 0) {
              this.add('reparse', `${b} -W ${opt.raw}`);
              return;
            }
            const eq = opt.literal!.indexOf('=');
            const name = eq === -1 ? opt.literal! : opt.literal!.slice(0, eq);
            const full = name.length >= 1 ? ['include', 'load', 'file', 'source', 'exec'].find((x) => x.startsWith(name)) : undefined;
            if (full === undefined) continue;
            const value = eq !== -1 ? wordFrom(opt, eq + 1) : rest[++j];
            if (value === undefined) continue;
            if (full === 'source') sources.push(value);
            else if (full === 'exec') files.push(value);
            else if (full === 'file') {
              fromFile = true;
              files.push(value);
            } else includes.push({ file: value, who: `${b} -W ${full}` });
            continue;
          }
          // An option word data makes may be any option (`-"$2"`: `-f/dev/stdin`, `--exec=…`); only -v's
          // assignment and -F's separator may come from data.
          if (w.expansions > 0 && !/^(-[vF]|--(assign|field-separator)=)/.test(w.raw)) {
            this.add('reparse', `${b} ${w.raw}`);
            return;
          }
          const o = readOption(rest, j, AWK_OPTIONS);
          for (const v of o.values) {
            if (v.value === undefined) continue;
            if (v.name === '-e' || v.name === '--source') sources.push(v.value);
            else if (v.name === '-E' || v.name === '--exec') files.push(v.value);
            else if (v.name === '-f' || v.name === '--file') {
              fromFile = true;
              // `-bf x` (a cluster): programFiles reads `-f x`, `-fx` and `--file=x` only.
              if (!/^(-f|--f)/.test(w.literal ?? w.raw)) clustered.push(v.value);
            }
            else if (v.name === '-i' || v.name === '--include') includes.push({ file: v.value, who: `${b} -i` });
            else if (v.name === '-l' || v.name === '--load') includes.push({ file: v.value, who: `${b} -l` });
          }
          j = o.end;
        }
        const program = sources.length > 0 || files.length > 0 || fromFile ? undefined : rest[j];
        for (const p of program === undefined ? sources : [program]) {
          if (p.expansions) this.add('reparse', `${b} ${p.raw}`);
          // A literal program that runs commands runs what it reads: `awk '{system($0)}'`, `{print | "sh"}`.
          else if (p.literal !== undefined && awkRunsCommands(p.literal)) this.add('reparse', `${b} ${p.raw}`);
          if (p.literal !== undefined) {
            for (const m of p.literal.matchAll(/@(include|load)[ \t]*"([^"\n]*)"/g)) includes.push({ file: { raw: m[2]!, literal: m[2]!, expansions: 0 }, who: `${b} @${m[1]}` });
          }
        }
        this.programFiles(rest, b, stdinProgram);
        for (const f of files) this.programFile(f, `${b} -E`, stdinProgram);
        for (const f of clustered) this.programFile(f, `${b} -f`, stdinProgram);
        for (const { file, who } of includes) {
          this.programFile(file, who, stdinProgram);
          // `-i x` reads `x.awk` when there is no `x` (`-l x`: `x.so`).
          const suffix = who.endsWith(' -l') || who.endsWith('load') ? '.so' : '.awk';
          if (file.literal !== undefined && file.literal !== '' && !file.literal.endsWith(suffix)) this.runsFile({ raw: file.literal + suffix, literal: file.literal + suffix, expansions: 0 }, `${who} ${file.literal}${suffix}`);
        }
        return;
      }
      if (SEDS.has(b)) {
        const scripts: Word[] = [];
        let explicit = false;
        for (let j = 0; j < rest.length; j++) {
          const w = rest[j]!.literal;
          if (w === '-e' || w === '--expression') {
            explicit = true;
            if (rest[j + 1]) scripts.push(rest[j + 1]!);
            j++;
          } else if (w === '-f' || w === '--file') {
            explicit = true;
            j++;
          } else if (w?.startsWith('--expression=')) {
            explicit = true;
            scripts.push(rest[j]!);
          }
        }
        if (!explicit) {
          const program = programWord(rest, new Set(['-l']), undefined);
          if (program) scripts.push(program);
        }
        // GNU sed's `e` command and `s///e` run the pattern space (the data read) as a command.
        const bad = scripts.find((w) => w.expansions > 0 || sedRunsCommands(w.literal ?? ''));
        if (bad) this.add('reparse', `${b} ${bad.raw}`);
        this.programFiles(rest, b, stdinProgram);
        // What sed writes: `w` files get what it reads, and -i's files what the script reads in (`r /dev/stdin`,
        // `r` of a file the command wrote) besides their own lines.
        const files = scripts.map((w) => sedFiles(w.literal ?? ''));
        const readsData = (f: string) => stdinPath(f) || (f.startsWith('/') && FD_PATH.test(normalise(f)) && normalise(f) !== '/dev/null') || this.shared.written.has(f);
        const inputs: Word[] = [];
        for (let j = 0, options = true; j < rest.length; j++) {
          const w = rest[j]!;
          if (options && w.literal === '--') options = false;
          else if (options && /^(-e|--expression|-f|--file|-l|--line-length)$/.test(w.literal ?? '')) j++;
          else if (!(options && /^-./.test(w.raw)) && !scripts.includes(w)) inputs.push(w);
        }
        const data = fromStdin || anyExpansion(rest) || inputs.some((w) => w.literal !== undefined && readsData(w.literal)) || files.some((f) => f.reads.some(readsData));
        if (data) for (const f of files) for (const path of f.writes) this.shared.written.add(path);
        const inPlace = rest.some((w) => /^(-[nErsuzb]*i|--i)/.test(w.literal ?? ''));
        if (inPlace && (fromStdin || files.some((f) => f.reads.some(readsData)))) for (const w of inputs) this.shared.written.addWord(w);
        return;
      }
    }
  }
}

/** The value of a `$'…'` string (bash): `\\xHH`, `\\uHHHH`, `\\UHHHHHHHH`, octal `\\nnn`, `\\cX` and the C escapes. */
export function decodeAnsiC(body: string): string {
  const simple: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
  return body.replace(/\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)/gs, (all, e: string) => {
    const known = own(simple, e);
    if (known !== undefined) return known;
    const code = e[0] === 'x' || e[0] === 'u' || e[0] === 'U' ? parseInt(e.slice(1), 16) : /^[0-7]/.test(e) ? parseInt(e, 8) : e[0] === 'c' && e.length === 2 ? e.charCodeAt(1) & 0x1f : undefined;
    if (code === undefined) return all;
    return code <= 0x10ffff ? String.fromCodePoint(code) : all;
  });
}

/** The first operand (the program of awk or sed), skipping options and the arguments of `withArg`; none after `noProgram`. */
/** Whether the next word is in assignment position: only leading reserved words (`if`, `then`…) and assignments before it. */
/**
 * Whether a word, as written, makes the shell pick its value by a pattern: an unquoted `*`, `?` or `[…]`
 * (a glob: `/bin/ba[s]h`, `sh /tmp/y*`) or a brace expansion (`{eval,:}`, `e{v,}al`, `{1..3}`). A command
 * or script named so is not the literal name the check reads.
 */
function patternWord(raw: string): boolean {
  let bare = '';
  for (let j = 0; j < raw.length; j++) {
    const c = raw[j]!;
    if (c === '\\') {
      bare += '_';
      j++;
    } else if (c === "'" || c === '"' || (c === '$' && raw[j + 1] === "'")) {
      const ansi = c === '$';
      const close = ansi ? "'" : c;
      if (ansi) j++;
      for (j++; j < raw.length && raw[j] !== close; j++) if (raw[j] === '\\' && (c === '"' || ansi)) j++;
      bare += '_';
    } else bare += c;
  }
  return /[*?]|\[.+\]/s.test(bare) || braceGroup(bare);
}

/**
 * Whether a text holds a `{` whose matching `}` (nested braces counted) encloses a `,` or `..` at any depth:
 * bash expands `/tmp/{x,{y}}` though no brace pair without braces inside holds a comma. Linear.
 */
function braceGroup(text: string): boolean {
  const open: number[] = [];
  let separators = 0;
  const marks: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      open.push(i);
      marks.push(separators);
    } else if (c === '}' && open.length > 0) {
      open.pop();
      if (separators > marks.pop()!) return true;
    } else if (open.length > 0 && (c === ',' || (c === '.' && text[i + 1] === '.'))) separators++;
  }
  return false;
}

/** Whether a word, as written, holds an unquoted brace expansion (`/tmp/h{,}`, `{/dev/stdin,/tmp/s}`, `f{1..3}`). */
function braceWord(raw: string): boolean {
  // `${x,}` and `${x/a/b}` are parameter expansions, not braces.
  const bare = raw.replace(/\$\{[^{}]*\}/g, '_');
  return patternWord(bare.replace(/[*?[\]]/g, '_')) && /\{/.test(bare);
}

/** The longest word, and the most `{`, brace expansion is tried on in a link's, copy's or write's operands. */
const MAX_BRACE_WORD_CHARS = 512;
const MAX_BRACE_GROUPS = 16;

/**
 * The words bash's brace expansion makes of a plain word (no quotes, escapes or expansions): `/tmp/h{,}` is
 * `/tmp/h` (an empty word is dropped), `{/dev/stdin,/tmp/s}` two words, `f{1..3}` three. Undefined past 64 words made (empty ones included).
 */
function expandBraces(text: string): string[] | undefined {
  // Bounded before any work: the expansion rescans the word per brace and level, so a long word of many
  // braces (`{{{…{1..1}{1..1}…`) would hold the event loop; such a word in these operands is refused.
  if (text.length > MAX_BRACE_WORD_CHARS || (text.match(/\{/g)?.length ?? 0) > MAX_BRACE_GROUPS) return undefined;
  const out: string[] = [];
  let leaves = 0;
  const expand = (s: string): boolean => {
    for (let i = s.indexOf('{'); i !== -1; i = s.indexOf('{', i + 1)) {
      if (s[i - 1] === '$') continue;
      let depth = 0;
      const commas: number[] = [];
      let j = i;
      for (; j < s.length; j++) {
        if (s[j] === '{') depth++;
        else if (s[j] === '}' && --depth === 0) break;
        else if (s[j] === ',' && depth === 1) commas.push(j);
      }
      if (j >= s.length) continue;
      const body = s.slice(i + 1, j);
      let alternatives: string[] | undefined;
      if (commas.length > 0) alternatives = [i, ...commas].map((c, k) => s.slice(c + 1, k < commas.length ? commas[k] : j));
      else {
        const n = /^(-?[0-9]+)\.\.(-?[0-9]+)(?:\.\.(-?[0-9]+))?$/.exec(body);
        const c = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?[0-9]+))?$/.exec(body);
        const from = n ? Number(n[1]) : c ? c[1]!.charCodeAt(0) : NaN;
        const to = n ? Number(n[2]) : c ? c[2]!.charCodeAt(0) : NaN;
        if (Number.isNaN(from)) continue;
        const step = Math.abs(Number((n ?? c)![3] ?? 1)) || 1;
        if (Math.abs(to - from) / step > 64) return false;
        // Zero-padding is bash's own rule per end (`{1..01}` is `01`, `{0..10}` not padded): refused, not copied.
        if (n && (/^-?0[0-9]/.test(n[1]!) || /^-?0[0-9]/.test(n[2]!))) return false;
        alternatives = [];
        for (let v = from; from <= to ? v <= to : v >= to; v += from <= to ? step : -step) alternatives.push(n ? String(v) : String.fromCharCode(v));
      }
      for (const a of alternatives) if (!expand(s.slice(0, i) + a + s.slice(j + 1)) || leaves > 64) return false;
      return true;
    }
    leaves++;
    if (s !== '') out.push(s);
    return true;
  };
  return expand(text) && leaves <= 64 ? out : undefined;
}

function onlyAssignments(words: Word[]): boolean {
  let k = 0;
  while (k < words.length && words[k]!.raw === words[k]!.literal && RESERVED.has(words[k]!.literal!)) k++;
  return words.slice(k).every(isAssignment);
}

/** An awk program that runs commands: `system(…)`, `… | getline`, `|&`, or a `print`/`printf` statement piped to a command. */
function awkRunsCommands(program: string): boolean {
  if (/\bsystem\s*\(|\|\s*getline|\|&/.test(program)) return true;
  return program.split(/[;{}\n]/).some((statement) => /^\s*printf?\b/.test(statement) && /(^|[^|])\|(?!\|)/.test(statement));
}

/** A sed script with GNU sed's `e` command (alone it runs the pattern space) or the `e` flag of `s///`. */
function sedRunsCommands(script: string): boolean {
  if (/(^|[;\n{}])\s*(?:[0-9$,~+]+\s*|\/(?:[^/\\]|\\.)*\/\s*)?!?\s*e\s*($|[;\n}])/.test(script)) return true;
  return /(^|[;\n{}\s])s(.)(?:(?!\2)[^\\\n]|\\.)*\2(?:(?!\2)[^\\\n]|\\.)*\2[gpIiMm0-9]*e/.test(script);
}

/** A sed address (`3`, `$`, `0~2`, `/re/I`, and a range of them) before a command, and the command's letter at the start of a segment. */
const SED_ONE_ADDRESS = String.raw`(?:[0-9]+(?:~[0-9]+)?|\$|\/(?:[^/\\\n]|\\.)*\/[IM]*)`;
// Each `\s*` is followed by a character it cannot take, so none backtracks against another (linear on a blank run).
const SED_ADDRESS = String.raw`(?:${SED_ONE_ADDRESS}(?:\s*,\s*(?:${SED_ONE_ADDRESS}|[+~][0-9]+))?)?\s*(?:!\s*)?`;
const SED_FILE_COMMAND = new RegExp(String.raw`^${SED_ADDRESS}([rRwW])\s*(.*)$`);
const SED_S_WRITE = new RegExp(String.raw`^${SED_ADDRESS}s([^\\\n])(?:(?!\1)[^\\\n]|\\.)*\1(?:(?!\1)[^\\\n]|\\.)*\1[gpIiMme0-9]*w\s*(.*)$`);

const SED_PLAIN_ADDRESS = new RegExp(String.raw`^${SED_ONE_ADDRESS}`);

/**
 * A segment with its addresses' custom delimiters (`\,x,`, `\|a/b|I`) read as `/x/`, so that
 * {@link SED_ADDRESS} reads the command after them (`\,x,w /etc/cron.d/x`).
 */
function plainAddresses(segment: string): string {
  let out = '';
  let j = 0;
  for (let n = 0; n < 2; n++) {
    if (segment[j] === '\\' && j + 1 < segment.length && segment[j + 1] !== '\n') {
      const c = segment[j + 1]!;
      let k = j + 2;
      while (k < segment.length && segment[k] !== c && segment[k] !== '\n') k += segment[k] === '\\' ? 2 : 1;
      out += '/x/';
      j = k + 1;
      while (/[IM]/.test(segment[j] ?? '')) j++;
    } else {
      const m = SED_PLAIN_ADDRESS.exec(segment.slice(j));
      if (m === null) break;
      out += m[0];
      j += m[0].length;
    }
    const comma = /^\s*,\s*/.exec(segment.slice(j));
    if (comma === null) break;
    out += comma[0];
    j += comma[0].length;
  }
  return out + segment.slice(j);
}

/**
 * The files a literal sed script reads (`r`, `R`) and writes (`w`, `W`, the `w` flag of `s///`): each such
 * command's file name runs to the end of its line. Commands are found at the start of the script, of a line and
 * after `;`, `{` or `}` (one inside a regular expression is taken for one too, erring towards seeing a file).
 */
function sedFiles(script: string): { reads: string[]; writes: string[] } {
  const reads: string[] = [];
  const writes: string[] = [];
  for (const line of script.split('\n')) {
    for (let at = 0; at <= line.length; ) {
      const rest = plainAddresses(line.slice(at).trimStart());
      const file = SED_FILE_COMMAND.exec(rest);
      const flag = file === null ? SED_S_WRITE.exec(rest) : null;
      if (file !== null && file[2] !== '') (/[rR]/.test(file[1]!) ? reads : writes).push(file[2]!);
      if (flag !== null && flag[2] !== '') writes.push(flag[2]!);
      if ((file !== null && file[2] !== '') || (flag !== null && flag[2] !== '')) break;
      const next = line.slice(at).search(/[;{}]/);
      if (next === -1) break;
      at += next + 1;
    }
  }
  return { reads, writes };
}

/** The last component of a path (`./fix.sh`, `/tmp/fix.sh` and `fix.sh` name the same file after a `cd`). */
function lastComponent(path: string): string {
  return trimTrailingSlashes(path).replace(/^.*\//, '');
}

/**
 * Whether a path's `..` follows a real component (`/var/run/../dev/stdin`, `x/../dev/fd/3`): the kernel resolves
 * it from where that component's symlink leads (`/var/run` is `/run`, so that path is `/dev/stdin`), the text
 * cannot tell where; a program or a link's target so named may be a descriptor. A leading `..` of a relative path
 * goes up from the current folder or the link's, read as from `/` by {@link normalise}.
 */
function climbsBack(path: string): boolean {
  let real = false;
  for (const p of path.split('/')) {
    if (p === '..' && real) return true;
    if (p !== '' && p !== '.' && p !== '..') real = true;
  }
  return false;
}

function normalise(path: string): string {
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return `/${parts.join('/')}`;
}

/** `name=…`, `name+=…`, `name[sub]=…`. */
function isAssignment(w: Word): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(w.raw);
}

/** Letters and long options taking a value, from a list like `['-u', '--user']`. */
interface OptionSpec {
  short: string;
  long: readonly string[];
}

/** Keyed by the list itself: call it only with lists that live as long as the module (WRAPPER_TAILS', the constants below). */
const optionSpecs = new Map<readonly string[], OptionSpec>();

function optionSpec(args: readonly string[]): OptionSpec {
  let spec = optionSpecs.get(args);
  if (spec === undefined) {
    spec = { short: args.filter((a) => /^-[^-]$/.test(a)).map((a) => a[1]).join(''), long: args.filter((a) => a.startsWith('--')) };
    optionSpecs.set(args, spec);
  }
  return spec;
}

/**
 * The literal text a word holds before its first expansion, quotes and backslashes dropped (`"./$1"`: `./`,
 * `-x"$1"`: `-x`, `"$1"`: empty), or undefined when it holds none. `''"$1"` starts with the data too.
 */
function textBeforeData(w: Word): string | undefined {
  if (w.expansions === 0) return undefined;
  if (w.lead !== undefined) return w.lead;
  const first = w.raw.search(/[$`]/);
  return (first === -1 ? w.raw : w.raw.slice(0, first)).replace(/\\(.)|["']/gs, '$1');
}

/**
 * Whether a word holding data may be read as an option, or make one, where a program reads options: it starts
 * with the data (`"$1"`, `"$x"`, `"$(…)"`: the value's first character is the word's), or data ends an option
 * word the program reads (`-x"$1"`: more letters of a cluster, `--"$1"`, `--to-"$1"`: an option's name), not its
 * value (`--file="$1"`, `-f"$1"` when `-f` takes one in `spec`). A name `find` puts in place of `{}` starts with
 * find's start folder.
 */
function dataOption(w: Word, spec: OptionSpec): boolean {
  const lead = textBeforeData(w);
  if (lead === undefined || w.found === true || (w.lead === undefined && w.raw.startsWith('{}'))) return false;
  if (lead === '') return true;
  if (!lead.startsWith('-') || lead === '-') return lead === '-';
  if (lead.startsWith('--')) return !lead.includes('=');
  return ![...lead.slice(1)].some((letter) => spec.short.includes(letter));
}

/** The part of a word from character `at` on (of its literal when it has one). */
function wordFrom(w: Word, at: number): Word {
  return w.literal !== undefined ? { raw: w.literal.slice(at), literal: w.literal.slice(at), expansions: 0 } : { raw: w.raw.slice(at), literal: undefined, expansions: w.expansions };
}

/**
 * One getopt-style option word at `words[j]`, read as getopt reads it: `-abc` is three options, and the first
 * letter of `spec.short` among them takes the rest of the word or the next word as its value (`sudo -Eu root`,
 * `timeout -vs KILL`, `exec -ca x`); `--name=value` and `--name value` for the long options of `spec.long`,
 * whose unique prefix names them too (`env --split=…`, `timeout --sig KILL`: getopt_long accepts it). Returns
 * the index of the option's last word, the options named (`-a`, `--user`) and the values taken.
 */
/** The values of the options `words` gives from `from` on, read with `spec`, up to `--` or the end. */
function* optionValues(words: Word[], from: number, spec: OptionSpec): Generator<{ name: string; value: Word | undefined; joined: boolean }> {
  for (let j = from; j < words.length; j++) {
    if (words[j]!.literal === '--') break;
    if (!/^-./.test(words[j]!.literal ?? '')) continue;
    const o = readOption(words, j, spec);
    yield* o.values;
    j = o.end;
  }
}

function readOption(words: Word[], j: number, spec: OptionSpec): { end: number; names: string[]; values: { name: string; value: Word | undefined; joined: boolean }[] } {
  const w = words[j]!;
  const text = w.literal ?? w.raw;
  const names: string[] = [];
  const values: { name: string; value: Word | undefined; joined: boolean }[] = [];
  if (text.startsWith('--')) {
    const eq = text.indexOf('=');
    const given = eq === -1 ? text : text.slice(0, eq);
    const matches = spec.long.filter((o) => o.startsWith(given));
    const name = spec.long.includes(given) ? given : given.length > 2 && matches.length > 0 ? matches[0]! : undefined;
    names.push(name ?? given);
    if (name === undefined) return { end: j, names, values };
    if (eq !== -1) {
      values.push({ name, value: wordFrom(w, eq + 1), joined: true });
      return { end: j, names, values };
    }
    values.push({ name, value: words[j + 1], joined: false });
    return { end: j + 1, names, values };
  }
  for (let c = 1; c < text.length; c++) {
    const letter = text[c]!;
    names.push(`-${letter}`);
    if (!spec.short.includes(letter)) continue;
    if (c + 1 < text.length) {
      values.push({ name: `-${letter}`, value: wordFrom(w, c + 1), joined: true });
      return { end: j, names, values };
    }
    values.push({ name: `-${letter}`, value: words[j + 1], joined: false });
    return { end: j + 1, names, values };
  }
  return { end: j, names, values };
}

/**
 * A path data makes part of (`"/etc/cron.d/$2"`, `'/etc/cron.d/'x-"$2".conf`): the literal text before the first
 * expansion and after the last, quotes dropped; undefined when the first is not an absolute path. The text after
 * is taken short when unsure (after the last `)`, `}` or backquote, and past a `$name`'s name characters).
 */
function dataName(w: Word): { prefix: string; suffix: string } | undefined {
  if (w.expansions === 0) return undefined;
  const unquote = (t: string) => t.replace(/\\(.)|["']/gs, '$1');
  const first = w.raw.search(/[$`]/);
  const prefix = unquote(first === -1 ? w.raw : w.raw.slice(0, first));
  if (!prefix.startsWith('/')) return undefined;
  return { prefix, suffix: textAfterData(w) };
}

/** The literal text a word holding data has after its last expansion, quotes dropped, taken short when unsure (see {@link dataName}). */
function textAfterData(w: Word): string {
  const last = w.raw.search(/[$`](?!.*[$`])/s);
  let tail = w.raw.slice(last + 1);
  const close = Math.max(tail.lastIndexOf(')'), tail.lastIndexOf('}'), tail.lastIndexOf('`'));
  tail = close !== -1 ? tail.slice(close + 1) : tail.replace(/^[A-Za-z0-9_@*#?!-]*/, '');
  return tail.replace(/\\(.)|["']/gs, '$1');
}

/** A path's last component as written, when data builds the rest (`"$HOME/x.sh"`: `x.sh`), or undefined. */
function writtenName(w: Word): string | undefined {
  const path = w.literal ?? w.raw.replace(/["']/g, '').replace(/^.*\//s, '');
  if (path === '' || /[$`{}]/.test(path)) return undefined;
  return w.literal !== undefined ? path : lastComponent(path);
}

const EXEC_OPTIONS = optionSpec(['-a']);
const NO_OPTION_ARGS: readonly string[] = [];
const NO_OPTIONS = optionSpec(NO_OPTION_ARGS);
/** awk's options that take a value (gawk's long ones too). */
const AWK_OPTIONS = optionSpec(['-F', '-v', '-f', '-e', '-E', '-i', '-l', '-Z', '--field-separator', '--assign', '--file', '--source', '--exec', '--include', '--load', '--locale']);
/**
 * The operands of cp, mv, install, ln or rsync (options and their values left out, before `--`, wherever they come:
 * GNU getopt permutes) and the folder they copy into with -t/--target-directory (cp, mv, install, ln).
 */
function copyOperands(args: Word[], tool: 'cp' | 'mv' | 'install' | 'ln' | 'rsync'): { operands: Word[]; folder: Word | undefined } {
  const spec = tool === 'rsync' ? RSYNC_OPTIONS : tool === 'install' ? INSTALL_OPTIONS : LINK_OPTIONS;
  const operands: Word[] = [];
  let folder: Word | undefined;
  for (let j = 0, options = true; j < args.length; j++) {
    const w = args[j]!;
    if (options && w.literal === '--') {
      options = false;
      continue;
    }
    if (options && /^-./.test(w.literal ?? w.raw)) {
      const o = readOption(args, j, spec);
      const target = tool === 'rsync' ? undefined : o.values.find((v) => v.name === '-t' || v.name === '--target-directory');
      if (target !== undefined) folder = target.value;
      j = o.end;
      continue;
    }
    operands.push(w);
  }
  return { operands, folder };
}

/**
 * git config keys whose value git runs as a command or a program, or that lead it to one (an include, an alias, a
 * protocol allowed, a URL rewritten): `git config core.sshCommand "$1"` runs the data at the next fetch.
 */
const GIT_CODE_KEYS =
  /^(core\.(sshcommand|pager|editor|fsmonitor|hookspath|askpass|gitproxy|alternaterefscommand)|sequence\.editor|gpg\.([^.]+\.)?program|credential\.(.+\.)?helper|alias\..+|pager\..+|diff\.external|diff\..+\.(command|textconv)|merge\..+\.driver|filter\..+\.(clean|smudge|process)|interactive\.difffilter|uploadpack\.packobjectshook|include\.path|includeif\..+\.path|remote\..+\.(uploadpack|receivepack|proxy)|protocol\.(.+\.)?allow|url\..+\.(pushinsteadof|insteadof)|(merge|diff)tool\..+\.(cmd|path)|(browser|man)\..+\.(cmd|path)|web\.browser|sendemail\..+|ssh\.variant|pull\.(twohead|octopus))$/i;
/**
 * git's own subcommands whose options taking a value run nothing (besides those {@link OPTION_PROGRAMS} lists):
 * any other may be an alias of one that does, or a program `git-NAME` on PATH.
 */
const GIT_SUBCOMMANDS = new Set([
  'add', 'am', 'apply', 'blame', 'branch', 'bisect', 'cat-file', 'check-attr', 'check-ignore', 'cherry', 'cherry-pick', 'clean', 'config', 'count-objects',
  'describe', 'diff', 'for-each-ref', 'format-patch', 'fsck', 'gc', 'hash-object', 'log', 'ls-files', 'ls-tree', 'maintenance', 'merge-base', 'mv', 'name-rev',
  'notes', 'prune', 'range-diff', 'reflog', 'remote', 'repack', 'reset', 'restore', 'rev-list', 'rev-parse', 'revert', 'rm', 'shortlog', 'show', 'show-ref',
  'sparse-checkout', 'status', 'submodule', 'symbolic-ref', 'update-ref', 'var', 'verify-commit', 'verify-tag', 'version', 'whatchanged', 'worktree',
]);
/** `git config`'s subcommands (git 2.46), each reading its own options up to its key. */
const GIT_CONFIG_ACTIONS = new Set(['list', 'get', 'set', 'unset', 'rename-section', 'remove-section', 'edit']);
/** GNU find's primaries and options that take the next word as their value (`-fprintf` two). */
const FIND_VALUE_PRIMARIES = new Set(['-name', '-iname', '-path', '-ipath', '-wholename', '-iwholename', '-lname', '-ilname', '-regex', '-iregex', '-regextype', '-newer', '-anewer', '-cnewer', '-samefile', '-type', '-xtype', '-user', '-group', '-uid', '-gid', '-perm', '-size', '-links', '-inum', '-mtime', '-atime', '-ctime', '-mmin', '-amin', '-cmin', '-used', '-fstype', '-context', '-maxdepth', '-mindepth', '-printf', '-fprint', '-fprint0', '-fls', '-fprintf', '-files0-from']);
/** Options of `ln`, `cp` and `mv` that take a value. */
const LINK_OPTIONS = optionSpec(['-S', '-t', '--suffix', '--target-directory']);
/** Options of `install` that take a value. */
const INSTALL_OPTIONS = optionSpec(['-m', '-o', '-g', '-S', '-t', '--mode', '--owner', '--group', '--suffix', '--target-directory', '--strip-program']);
/** Options of `rsync` that take a value (`-t` is its `--times`, `-T` its `--temp-dir`). */
const RSYNC_OPTIONS = optionSpec(['-e', '-B', '-f', '-M', '-T', '--rsh', '--rsync-path', '--filter', '--exclude', '--include', '--exclude-from', '--include-from', '--files-from', '--temp-dir', '--partial-dir', '--backup-dir', '--suffix', '--compare-dest', '--copy-dest', '--link-dest', '--chmod', '--chown', '--usermap', '--groupmap', '--log-file', '--log-file-format', '--out-format', '--password-file', '--port', '--timeout', '--contimeout', '--bwlimit', '--max-size', '--min-size', '--max-delete', '--block-size', '--modify-window', '--iconv', '--info', '--debug', '--sockopts', '--remote-option', '--checksum-choice', '--compress-choice', '--compress-level', '--skip-compress', '--address', '--outbuf', '--stop-after', '--stop-at', '--write-batch', '--only-write-batch', '--read-batch', '--protocol', '--max-alloc']);

/**
 * The names of the links `ln` (or `cp -s`) makes to a descriptor's path (`/dev/stdin`, `/dev/fd/3`): the last
 * operand (`ln -s /dev/stdin /tmp/s`), and the descriptor's own last component for a link made inside a
 * folder, which `-t DIR` (`ln -s -t /tmp /dev/stdin` makes /tmp/stdin), a single operand (`ln -s /dev/stdin`
 * makes ./stdin) or a last operand that is a folder (`ln -s /dev/stdin /tmp`, unless `-T`) does.
 * A relative target resolves from the link's folder, which enough `..` leave for `/` (`ln -s ../dev/stdin s`
 * in /tmp), or may pass through a link named in `made`. cp copies `/dev/stdin` (itself a link) as a link
 * unless it dereferences: `-s`, or `-P`, `-d`, `-a`, `--no-dereference`, or `-r`/`-R` without `-L`/`-H`, the
 * last of `-L`, `-H` and `-P`/`-d`/`-a` counting (`cp -a /dev/stdin s`; `cp /dev/stdin s` copies stdin's data).
 * `mv` moves the link itself (across file systems it copies it as a link), and `rsync` copies it as a link with
 * `-a`, `-l` or `--links` and skips it without: counted unless `-L`/`--copy-links`, which copy what it leads to.
 */
function descriptorLinks(args: Word[], tool: 'ln' | 'cp' | 'mv' | 'rsync', made: ReadonlySet<string>): string[] {
  const cp = tool === 'cp';
  const rsync = tool === 'rsync';
  let copyLinks = false;
  const operands: Word[] = [];
  let folder = false;
  let noFolder = false;
  let symbolic = false;
  let dereference: 'always' | 'never' | 'arguments' | undefined;
  let recursive = false;
  const long = (n: string, option: string, shortest: number) => n.length >= shortest && option.startsWith(n);
  for (let j = 0, options = true; j < args.length; j++) {
    const w = args[j]!;
    if (options && w.literal === '--') {
      options = false;
      continue;
    }
    if (options && /^-./.test(w.raw)) {
      const o = readOption(args, j, rsync ? RSYNC_OPTIONS : LINK_OPTIONS);
      if (rsync) {
        if (o.names.some((n) => n === '-L' || (n.length >= 8 && '--copy-links'.startsWith(n)))) copyLinks = true;
        j = o.end;
        continue;
      }
      if (o.names.some((n) => n === '-s' || (n.length > 4 && '--symbolic-link'.startsWith(n)))) symbolic = true;
      if (o.names.some((n) => n === '-T' || (n.length > 4 && '--no-target-directory'.startsWith(n)))) noFolder = true;
      if (o.values.some((v) => v.name === '-t' || v.name === '--target-directory')) folder = true;
      for (const n of o.names) {
        // A long option cut short where it may name one that copies a link (`--no-d`), only unambiguous (`--der`) where it dereferences.
        if (n === '-L' || long(n, '--dereference', 5)) dereference = 'always';
        else if (n === '-H') dereference = 'arguments';
        else if (n === '-P' || n === '-d' || long(n, '--no-dereference', 5)) dereference = 'never';
        else if (n === '-a' || long(n, '--archive', 3)) {
          dereference = 'never';
          recursive = true;
        } else if (n === '-r' || n === '-R' || long(n, '--recursive', 4)) recursive = true;
      }
      j = o.end;
      continue;
    }
    operands.push(w);
  }
  if (copyLinks) return [];
  if (cp && !symbolic && (dereference === 'always' || dereference === 'arguments' || (dereference === undefined && !recursive))) return [];
  // A relative path resolved as from `/` (normalise drops the `..` above it): `../../dev/stdin`, `dev/fd/0`.
  // A link to `/` holds `/dev` and `/proc` (`ln -s / /tmp/r; sh /tmp/r/dev/stdin`), and a path through a link
  // made before may lead under them, absolute or not (`ln -s / /tmp/r; ln -s /tmp/r/dev/stdin /tmp/s`).
  const isDescriptor = (w: Word) =>
    w.literal !== undefined &&
    ((FD_PATH.test(normalise(w.literal)) && normalise(w.literal) !== '/dev/null') ||
      climbsBack(w.literal) ||
      (normalise(w.literal) === '/' && (w.literal.startsWith('/') || w.literal.split('/').includes('..'))) ||
      w.literal.split('/').some((c) => c !== '' && made.has(c)));
  const targets = folder || operands.length === 1 ? operands : operands.slice(0, -1);
  const links = targets.filter(isDescriptor);
  if (links.length === 0) return [];
  const names: string[] = [];
  if (folder || operands.length === 1 || !noFolder) names.push(...links.map((w) => lastComponent(w.literal!)));
  if (!folder && operands.length >= 2) {
    const link = writtenName(operands[operands.length - 1]!);
    if (link !== undefined) names.push(lastComponent(link));
  }
  return names;
}

/**
 * The words GNU env's -S makes of a literal string: split on [ \t\n\v\f\r] outside quotes; in single quotes
 * only `\\` and `\'` are escapes; elsewhere `\"`, `\'`, `\\`, `\#`, `\$`, `\f`, `\n`, `\r`, `\t`, `\v` stand for one
 * character and `\_` separates words (a space in double quotes). Undefined for what env refuses or the check does
 * not follow (another escape, an unclosed quote; `$`, `#` and `\c` are refused before).
 */
function envSplit(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote = '';
  const end = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === '' && /[ \t\n\v\f\r]/.test(c)) end();
    else if (c === quote) quote = '';
    else if (quote === '' && (c === "'" || c === '"')) {
      quote = c;
      word ??= '';
    } else if (c === '\\' && !(quote === "'" && text[i + 1] !== '\\' && text[i + 1] !== "'")) {
      const n = text[++i];
      if (n === '_' && quote === '') end();
      else {
        const char = n === '_' ? ' ' : n === undefined ? undefined : own(ENV_ESCAPES, n);
        if (char === undefined) return undefined;
        word = (word ?? '') + char;
      }
    } else word = (word ?? '') + c;
  }
  if (quote !== '') return undefined;
  end();
  return words;
}
const ENV_ESCAPES: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', '#': '#', $: '$', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** A word as shell source: bare when it holds only characters the shell reads as themselves, else single-quoted. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-./=,:@%+]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function programWord(words: Word[], withArg: Set<string>, noProgram: string | undefined): Word | undefined {
  for (let j = 0; j < words.length; j++) {
    const w = words[j]!;
    const lit = w.literal;
    if (lit === '--') return words[j + 1];
    if (lit !== undefined && lit === noProgram) return undefined;
    if (lit !== undefined && withArg.has(lit)) {
      j++;
      continue;
    }
    if (lit !== undefined && lit.startsWith('-') && lit.length > 1) continue;
    return w;
  }
  return undefined;
}

/** What xargs adds to its command's words: one argument or more, anything it read. */
const XARGS_INPUT: Word = { raw: '(what xargs reads)', literal: undefined, expansions: 1, lead: '' };

/**
 * The words of the command once the xargs at `words[x]` (running `words[command]`, maybe a wrapper of
 * the command) has added what it reads: two arguments at the end (it splits at blanks, so the data may be any number of
 * them), or, with -I R/-i[R]/--replace[=R], each word holding R standing for one line read (the command's name
 * too). `file`: the file it reads instead of stdin (`-a f`, `--arg-file=f`), if any.
 */
function xargsWords(words: Word[], x: number, command: number): { words: Word[]; file?: Word } {
  const spec = optionSpec(XARGS_TAIL.args);
  let replace: string | undefined;
  let file: Word | undefined;
  for (let j = x + 1; j < command; j++) {
    const w = words[j]!;
    const text = w.literal ?? w.raw;
    if (text === '--') break;
    if (!/^-./.test(text)) continue;
    if (/^--replace(=|$)/.test(text)) replace = text.slice('--replace='.length) || '{}';
    else if (!text.startsWith('--')) {
      // -i takes the rest of its word as an optional value (`-i%`), after letters taking none (`-0i`).
      for (let c = 1; c < text.length && !spec.short.includes(text[c]!); c++) {
        if (text[c] === 'i') {
          replace = text.slice(c + 1) || '{}';
          break;
        }
      }
    }
    const o = readOption(words, j, spec);
    // `-a /dev/stdin`, `-a -` read stdin all the same.
    const a = o.values.find((v) => (v.name === '-a' || v.name === '--arg-file') && v.value !== undefined);
    if (a !== undefined) file = stdinPath(a.value!.literal ?? '') ? undefined : a.value;
    const i = o.values.find((v) => v.name === '-I');
    if (i !== undefined) replace = i.value?.literal;
    j = o.end;
  }
  const fileRead = file === undefined ? {} : { file };
  if (replace === undefined || replace === '') return { words: [...words, XARGS_INPUT, XARGS_INPUT], ...fileRead };
  const r = replace;
  return { ...fileRead, words: words.map((w, k) => (k >= command && w.literal?.includes(r) ? { raw: w.raw, literal: undefined, expansions: w.expansions + 1, lead: w.literal.slice(0, w.literal.indexOf(r)) } : w)) };
}

/** `ssh [options] host` without a command: the remote shell reads its commands from stdin. */
function sshReadsStdin(words: Word[]): boolean {
  const withArg = new Set(['-b', '-c', '-D', '-E', '-e', '-F', '-I', '-i', '-J', '-L', '-l', '-m', '-O', '-o', '-p', '-Q', '-R', '-S', '-W', '-w', '-B']);
  let operands = 0;
  for (let j = 0; j < words.length; j++) {
    const lit = words[j]!.literal ?? '';
    if (withArg.has(lit)) j++;
    else if (!lit.startsWith('-')) operands++;
  }
  return operands <= 1;
}

/**
 * The shell's own numbers read in arithmetic pass only while nothing else can have put data in them: a text
 * that names one more often than it reads it in arithmetic (`RANDOM="$1"`, `read RANDOM`, `declare -n r=RANDOM`,
 * a mention in an `sh -c` string is one too) refuses it, and so does any `unset` (bash's RANDOM, SECONDS, LINENO
 * and BASHPID become plain variables when unset; UID, EUID and PPID are read-only).
 */
function checkShellNumbers(shared: Shared): void {
  const read = new Set(shared.tallies.flatMap((t) => [...t.reads.keys()]));
  for (const name of read) {
    const named = new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`, 'g');
    const elsewhere = shared.tallies.some((t) => (t.text.match(named)?.length ?? 0) > (t.reads.get(name) ?? 0));
    if (shared.unsets || elsewhere) {
      const f: ShellFinding = { kind: 'arithmetic', text: name };
      if (!shared.findings.some((g) => g.kind === f.kind && g.text === f.text)) shared.findings.push(f);
    }
  }
}

/** What `command` does with data that could reach it (see the file's header), in order; at most 10. */
export function shellDataFindings(command: string): ShellFinding[] {
  const findings: ShellFinding[] = [];
  try {
    const shared: Shared = {
      findings, tallies: [], unsets: false, feeds: false, inherits: [], written: new Written(), fdLinks: new Set(), runs: [], cdAway: false, relative: [], runners: new Map(), shifts: new Set(), calls: [],
      dataFns: new Set(), fnBodies: new Map(), stdinCalls: [], rechecking: false,
    };
    new Reader(command, shared, 0).readAll();
    Reader.checkPipedCalls(shared);
    checkShellNumbers(shared);
    const add = (f: ShellFinding) => {
      f.text = f.text.length > 60 ? `${f.text.slice(0, 59)}…` : f.text;
      if (!findings.some((g) => g.kind === f.kind && g.text === f.text)) findings.push(f);
    };
    // A program read from a descriptor the command inherits, while the command feeds one somewhere.
    if (shared.feeds && shared.cdAway) shared.inherits.push(...shared.relative);
    if (shared.feeds) for (const who of shared.inherits) add({ kind: 'reparse', text: `${who} reads a descriptor the command feeds` });
    for (const run of shared.runs) if (shared.written.has(run.path, run.bare)) add({ kind: 'reparse', text: `${run.text} runs a file the command writes` });
    for (const call of shared.calls) {
      const n = shared.runners.get(call.name);
      const named = n === undefined ? [] : call.args.slice(0, shared.shifts.has(call.name) ? call.args.length : n);
      if (named.some((w) => w.expansions > 0)) add({ kind: 'reparse', text: `${call.name} ${call.args.map((w) => w.raw).join(' ')} (runs its arguments as a command)` });
    }
    for (const path of shared.written.paths) if (codeFile(path)) add({ kind: 'reparse', text: `${path} is read as code later` });
    // Data names the file in a folder whose files are read as code, or that holds such files (`"/etc/$2"`).
    for (const { prefix, suffix, raw } of shared.written.dataNames) if (codeDataName(prefix, suffix)) add({ kind: 'reparse', text: `${raw} is read as code later` });
  } catch (err) {
    // Anything else the reader trips on is refused too, never passed.
    findings.push({ kind: 'unreadable', text: err instanceof Unreadable ? err.message : 'a construct this check cannot follow' });
  }
  return findings.slice(0, MAX_FINDINGS);
}

/**
 * How to end the options of each program an `option` finding names (its text starts with the program's name):
 * `--` for most, but git's `--` starts paths (and in `git config` is a value), find reads a - word as its
 * expression even after `--`, and lua runs the word after `--` as its script.
 */
function optionFixes(findings: ShellFinding[]): string {
  const programs = [...new Set(findings.filter((f) => f.kind === 'option').map((f) => f.text.slice(0, f.text.indexOf(' '))))];
  const dashes = programs.filter((p) => p !== 'git' && p !== 'find' && !/^lua/.test(p));
  const own = 'start the word with text of your own ("fix-$1", "/backup/$1.tgz")';
  const fixes = [dashes.length > 0 ? `Put -- before the data for ${dashes.join(', ')} (${dashes.includes('tar') ? 'tar -xf x.tar' : `${dashes[0]} …`} -- "$1"), or ${own}` : `${own.charAt(0).toUpperCase()}${own.slice(1)}`];
  if (programs.includes('git')) {
    fixes.push(
      `for git, --end-of-options before the data (git log --end-of-options "$1"; git switch --end-of-options "$1", git switch --detach --end-of-options "$1" for a tag or a commit, ` +
        `as git 2.39's checkout and reset refuse it; git's -- starts paths, and in git config it is a value)`,
    );
  }
  if (programs.includes('find')) {
    fixes.push(`for find, a folder of your own before the data ("/var/log/$1", or "/\${1#/}" when the data is an absolute path): find reads a - word as its expression even after --, and "./$1" makes an absolute path relative`);
  }
  if (findings.some((f) => f.kind === 'option' && f.text.endsWith(XARGS_INPUT.raw))) {
    fixes.push(`for what xargs reads, -- as the last word of its command (xargs tar -xf x.tar --; -I{} with -- before the {})`);
  }
  const lua = programs.find((p) => /^lua/.test(p));
  if (lua !== undefined) fixes.push(`for lua, a script file before the data (lua -e '…' /dev/null "$1"): ${lua} runs the word after -- as its script`);
  // `git diff --diff-filter "$1"`: the lists take --diff-filter for a flag, and `--` or --end-of-options there would be its value.
  fixes.push(`when the data is the value of the option before it, join the two (--since="$1"): an option the check does not know is taken to take no value`);
  return fixes.join('; ');
}

/** The expansions `command` makes outside double quotes (`$1`, `${2:-x}`, `$a`, `$(…)`), as written. */
export function unquotedParameters(command: string): string[] {
  return shellDataFindings(command)
    .filter((f) => f.kind === 'unquoted')
    .map((f) => f.text);
}

/** Whether an action's `args` or `environment` values are templated (`{{ … }}`: incident data), not fixed by the author. */
export function carriesTemplates(action: { args?: unknown; environment?: unknown }): boolean {
  const values = [...(Array.isArray(action.args) ? action.args : []), ...(typeof action.environment === 'object' && action.environment !== null ? Object.values(action.environment) : [])];
  return values.some((v) => typeof v === 'string' && v.includes('{{'));
}

/**
 * Why `command` may not take incident data (through templated `args` or `environment`), or undefined when it
 * may. Callers ask only when {@link carriesTemplates} says the action's values are templated.
 */
export function commandDataProblem(command: string): string | undefined {
  const findings = shellDataFindings(command);
  if (findings.length === 0) return undefined;
  const list = (kind: ShellFindingKind) =>
    findings
      .filter((f) => f.kind === kind)
      .map((f) => JSON.stringify(f.text))
      .join(', ');
  const parts: string[] = [];
  const unreadable = findings.find((f) => f.kind === 'unreadable');
  const unquoted = list('unquoted');
  const arithmetic = list('arithmetic');
  const reparse = list('reparse');
  const option = list('option');
  if (unquoted) {
    parts.push(
      `the command expands ${unquoted} outside double quotes: the shell splits the value (an incident's title or host, or a copy of it in a variable) ` +
        `at spaces and expands its * and ?, so the data can add arguments and options of its own. Write it in double quotes: "$1", "$a", "$@", "$SELFHEAL_PARAM_…", "$(…)"`,
    );
  }
  if (arithmetic) {
    parts.push(
      `the command evaluates ${arithmetic} as arithmetic ($((…)), ((…)), let, [[ … -eq … ]], an array subscript, \${!x}): bash reads a variable's value there as an ` +
        `expression, quoted or not, and a value a[$(cmd)] runs cmd. Compare data as text ([ "$1" = … ], case) or move the arithmetic into a script from the library`,
    );
  }
  if (reparse) {
    parts.push(
      `the command hands data to another parser (${reparse}): quoted or not, the value is read as code there, so a title "x; rm -rf ~" runs. ` +
        `Pass it as an argument instead (sh -c 'restart "$1"' _ "$1"), or use a script from the library for remote commands` +
        // psql -c reads no psql variables: `psql -v u=x -c "select :'u'"` is a syntax error (psql 15).
        (findings.some((f) => f.kind === 'reparse' && (f.text.startsWith('psql ') || f.text === 'data on the stdin of psql'))
          ? `; for psql, the data as a variable and the SQL on stdin, where psql quotes it (psql -v host="$1" <<'SQL' … where name = :'host' … SQL; -c reads no variables)`
          : ''),
    );
  }
  if (option) {
    parts.push(
      `the command puts data where a program reads its options (${option}): double quotes keep it one word, but a value starting with - is read as an option there, ` +
        `and these options run commands or write files (tar --to-command=…, sed -e, git --output=…, curl -o…, perl -e). ${optionFixes(findings)}`,
    );
  }
  if (unreadable) {
    parts.push(`the check cannot read the command (${unreadable.text}), and refuses what it cannot read while the action's args or environment are templated`);
  }
  return parts.join('; ');
}
