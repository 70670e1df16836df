// What a Doctor agent's Temporal identity says about the teams it serves (src/agent.ts, agentIdentity):
// `doctor-agent@<environment> teams=payments,db`, `teams=*` for every team, or a list cut under Temporal's
// id limit (`…,…(+3)`). Pure: the API reads the pollers of an environment's queue with it, so a team sees an
// agent that serves other teams as not serving it. The identity is the agent's own word (whoever holds the
// queue's Temporal credentials may say anything), so it only informs: the agent's own check of each task
// (activities/agent.ts) decides.

const IDENTITY = /^doctor-agent@\S+ teams=(\S+)$/;
const MORE = /^…\(\+\d+\)$/;

/**
 * Whether an agent of `identity` serves `team`: true or false, or undefined when the identity does not say
 * (an agent from before it named its teams, another program, or a cut list not showing `team`).
 */
export function identityServes(identity: string, team: string): boolean | undefined {
  const m = IDENTITY.exec(identity);
  if (!m) return undefined;
  if (m[1] === '*') return true;
  const listed = m[1]!.split(',');
  if (listed.includes(team)) return true;
  return listed.some((t) => MORE.test(t)) ? undefined : false;
}

/**
 * Whether the agents polling now (`identities`) serve `team`: true when one of them says so, false when
 * every one says it does not, null when none polls or one cannot say.
 */
export function agentsServe(identities: readonly string[], team: string): boolean | null {
  if (identities.length === 0) return null;
  const answers = identities.map((i) => identityServes(i, team));
  if (answers.includes(true)) return true;
  return answers.includes(undefined) ? null : false;
}

/**
 * `identity` as a reader who may read only the teams `readable` says sees it: the teams it names that the
 * reader may not read are left out and counted in the list's `…(+N)` (as the agent cuts a long list),
 * so an environment's readers do not learn which other teams its agent serves. `teams=*` and an identity
 * that is not an agent's (`IDENTITY`) are answered as they are: they name no team.
 */
export function identityForReader(identity: string, readable: (team: string) => boolean): string {
  const m = IDENTITY.exec(identity);
  if (!m || m[1] === '*') return identity;
  const listed = m[1]!.split(',');
  let hidden = 0;
  const shown: string[] = [];
  for (const t of listed) {
    const more = /^…\(\+(\d+)\)$/.exec(t);
    if (more) hidden += Number(more[1]);
    else if (readable(t)) shown.push(t);
    else hidden += 1;
  }
  if (hidden === 0) return identity;
  return `${identity.slice(0, identity.length - m[1]!.length)}${[...shown, `…(+${hidden})`].join(',')}`;
}
