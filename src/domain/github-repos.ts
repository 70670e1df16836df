/**
 * Which GitHub repositories `workitem` actions may file issues in: the operator's list
 * (GITHUB_REPOS_ALLOW), checked when a rule is saved and again by the worker before it calls GitHub.
 *
 * A `write` token chooses a GitHub work item's repository, and its description carries incident details.
 * A GitHub token (a classic one above all) may open issues in any public repository on github.com, so
 * without a list such a token could publish every incident of a service to the world. Each entry is
 * `owner/name` (that repository) or `owner/*` (every repository of that owner); GitHub names are
 * compared in any case, as GitHub does.
 *
 * Pure: no I/O.
 */

export interface GitHubRepoPolicy {
  /** `owner/name`, lower-cased. */
  repos: ReadonlySet<string>;
  /** Owners whose every repository is allowed, lower-cased. */
  owners: ReadonlySet<string>;
}

export const GITHUB_REPOS_ALLOW_VAR = 'GITHUB_REPOS_ALLOW';

const PART = /^[A-Za-z0-9_.-]+$/;

/** The policy of the list's entries, or the first entry's problem. An empty list is no policy: any repository. */
export function parseRepoAllow(entries: readonly string[]): { policy: GitHubRepoPolicy | undefined } | { problem: string } {
  if (entries.length === 0) return { policy: undefined };
  const repos = new Set<string>();
  const owners = new Set<string>();
  for (const entry of entries) {
    const [owner = '', name, ...rest] = entry.split('/');
    if (name === undefined || rest.length > 0 || !PART.test(owner) || (name !== '*' && !PART.test(name)) || [owner, name].some((p) => p === '.' || p === '..')) {
      return { problem: `"${entry}" is neither owner/name nor owner/*` };
    }
    if (name === '*') owners.add(owner.toLowerCase());
    else repos.add(`${owner}/${name}`.toLowerCase());
  }
  return { policy: { repos, owners } };
}

/** Why issues may not be filed in `repo` (owner/name) under `policy`, or undefined when they may (always, without a policy). */
export function repoRefused(repo: string, policy: GitHubRepoPolicy | undefined): string | undefined {
  if (policy === undefined) return undefined;
  const lower = repo.toLowerCase();
  const owner = lower.split('/')[0] ?? '';
  if (policy.repos.has(lower) || policy.owners.has(owner)) return undefined;
  return `${repo} is not a repository ${GITHUB_REPOS_ALLOW_VAR} allows (owner/name or owner/* on the list)`;
}
