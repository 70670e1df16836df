import assert from 'node:assert/strict';
import { whatHappened } from '../../activities/side-effects.js';
import { TRUNCATED } from '../../src/domain/template.js';
import { HttpCallError, SecretResolutionError, WorkItemError } from '../../src/executors/errors.js';
import {
  createEwmProvider,
  createGitHubProvider,
  createJiraProvider,
  createWorkItemOnce,
  idempotencyLabel,
  idempotencyMarker,
  toAdf,
  type WorkItemInput,
} from '../../src/executors/work-items.js';
import { startEwmPeer, startGitHubPeer, startHttpPeer, startJiraPeer, type EwmPeer, type GitHubPeer, type JiraPeer } from '../helpers/http-peer.js';

const input = (key: string): WorkItemInput => ({
  idempotencyKey: key,
  title: 'Disk full on vm-1',
  description: 'PagerDuty incident Q1ABC.\n\nThe cleanup script freed 2 GiB.\nPlease check the log rotation.',
  labels: ['selfheal-auto'],
});

describe('executors/work-items', () => {
  it('toAdf builds a valid ADF document', () => {
    assert.deepEqual(toAdf('a\nb\n\nc'), {
      type: 'doc',
      version: 1,
      content: [
        { type: 'paragraph', content: [{ type: 'text', text: 'a' }, { type: 'hardBreak' }, { type: 'text', text: 'b' }] },
        { type: 'paragraph', content: [{ type: 'text', text: 'c' }] },
      ],
    });
    assert.deepEqual(toAdf(''), { type: 'doc', version: 1, content: [] });
  });

  describe('IBM EWM (OSLC CM 2.0)', () => {
    let ewm: EwmPeer;
    beforeEach(async () => {
      ewm = await startEwmPeer();
    });
    afterEach(async () => {
      await ewm.close();
    });
    const provider = (projectArea = 'JKE Banking', passwordRef = 'env:EWM_PASS') =>
      createEwmProvider({ catalogUrl: ewm.catalogUrl, projectArea, usernameRef: 'env:EWM_USER', passwordRef }, { env: { EWM_USER: ewm.username, EWM_PASS: ewm.password } });

    it('creates once, with OSLC JSON properties, in the named project area', async () => {
      const p = provider('Platform Operations');
      const category = 'https://ewm.example.com/ccm/resource/itemOid/com.ibm.team.workitem.Category/_cat1';
      const first = await createWorkItemOnce(p, { ...input('Q1ABC:rule-1:0'), type: 'task', filedAgainst: category });
      const second = await createWorkItemOnce(p, { ...input('Q1ABC:rule-1:0'), type: 'task', filedAgainst: category });
      assert.equal(first.created, true);
      assert.equal(second.created, false);
      assert.equal(second.id, first.id);
      assert.equal(second.url, first.url);
      assert.equal(ewm.items.length, 1);
      assert.deepEqual(ewm.violations, []);
      assert.equal(ewm.items[0]!.projectArea, '_projArea2');
      const props = ewm.items[0]!.properties;
      assert.equal(props['dcterms:title'], 'Disk full on vm-1');
      assert.equal(props['dcterms:type'], 'task');
      assert.deepEqual(props['rtc_cm:filedAgainst'], { 'rdf:resource': category });
      assert.match(String(props['dcterms:subject']), new RegExp(idempotencyLabel('Q1ABC:rule-1:0')));
      const post = ewm.requests.find((r) => r.method === 'POST')!;
      // The project area's default creation factory, not a type-specific one listed before it.
      assert.equal(post.path, '/ccm/oslc/contexts/_projArea2/workitems');
      assert.equal(post.headers['oslc-core-version'], '2.0');
      assert.equal(post.headers['content-type'], 'application/json');
      // Discovery ran once for the provider: one catalog read, one service provider read.
      assert.equal(ewm.requests.filter((r) => r.path.endsWith('/catalog')).length, 1);
      assert.equal(ewm.requests.filter((r) => r.path.endsWith('/services.xml')).length, 1);
      // A different key opens a different item.
      const other = await createWorkItemOnce(p, input('Q1ABC:rule-1:1'));
      assert.equal(other.created, true);
      assert.notEqual(other.id, first.id);
    });

    it('a project area can be named by its id; each one finds only its own items', async () => {
      await createWorkItemOnce(provider('JKE Banking'), input('K:1'));
      const again = await createWorkItemOnce(provider('_projArea1'), input('K:1'));
      assert.equal(again.created, false);
      const elsewhere = await createWorkItemOnce(provider('_projArea2'), input('K:1'));
      assert.equal(elsewhere.created, true);
      assert.deepEqual(
        ewm.items.map((i) => i.projectArea),
        ['_projArea1', '_projArea2'],
      );
    });

    it('a project area that moved (404 from its old factory) is discovered again on the next call', async () => {
      const p = provider('JKE Banking');
      await createWorkItemOnce(p, input('M:1'));
      // The area is archived and a new one takes its name.
      delete ewm.projectAreas._projArea1;
      ewm.projectAreas._projArea9 = 'JKE Banking';
      await assert.rejects(p.create(input('M:2')), (err: Error) => err instanceof HttpCallError && err.status === 404);
      await p.create(input('M:2'));
      assert.deepEqual(
        ewm.items.map((i) => i.projectArea),
        ['_projArea1', '_projArea9'],
      );
      assert.equal(ewm.requests.filter((r) => r.path.endsWith('/catalog')).length, 2);
    });

    it('an unknown project area is a permanent error and nothing is created', async () => {
      await assert.rejects(provider('Nope').create(input('k')), (err: Error) => err instanceof WorkItemError && !err.retryable && /no project area named "Nope"/.test(err.message));
      assert.equal(ewm.requests.filter((r) => r.method === 'POST').length, 0);
    });

    it('refuses a catalog that points the credentials at another server', async () => {
      const evil = await startHttpPeer([
        {
          method: 'GET',
          path: '/catalog',
          handle: () => ({ status: 200, json: { 'oslc:serviceProvider': [{ 'rdf:about': `${ewm.url}/ccm/oslc/contexts/_projArea1/workitems/services.xml`, 'dcterms:title': 'JKE Banking' }] } }),
        },
      ]);
      try {
        const p = createEwmProvider({ catalogUrl: `${evil.url}/catalog`, projectArea: 'JKE Banking', usernameRef: 'env:U', passwordRef: 'env:P' }, { env: { U: 'u', P: 'p' } });
        await assert.rejects(p.create(input('k')), /on another server than the catalog/);
        assert.equal(ewm.requests.length, 0);
      } finally {
        await evil.close();
      }
    });

    it('a missing secret fails without calling the server', async () => {
      await assert.rejects(provider('JKE Banking', 'file:/nonexistent/ignored').create(input('k')), SecretResolutionError);
      assert.equal(ewm.requests.length, 0);
    });
  });

  describe('Jira Cloud', () => {
    let jira: JiraPeer;
    beforeEach(async () => {
      jira = await startJiraPeer();
    });
    afterEach(async () => {
      await jira.close();
    });
    const provider = (token = jira.token) => createJiraProvider({ baseUrl: jira.baseUrl, email: jira.email, apiTokenRef: 'env:JIRA_TOKEN', projectKey: 'OPS' }, { env: { JIRA_TOKEN: token } });

    it('creates one issue with an ADF description and the idempotency label, even when called twice', async () => {
      const first = await createWorkItemOnce(provider(), input('Q1ABC:rule-2:0'));
      const second = await createWorkItemOnce(provider(), input('Q1ABC:rule-2:0'));
      assert.deepEqual(jira.violations, []);
      assert.equal(jira.issues.length, 1);
      assert.equal(first.created, true);
      assert.equal(second.created, false);
      assert.equal(first.id, 'OPS-1');
      assert.equal(second.id, 'OPS-1');
      assert.equal(first.url, `${jira.baseUrl}/browse/OPS-1`);
      const issue = jira.issues[0]!;
      assert.equal(issue.fields.summary, 'Disk full on vm-1');
      assert.deepEqual(issue.fields.issuetype, { name: 'Task' });
      assert.deepEqual(issue.fields.labels.sort(), ['selfheal-auto', idempotencyLabel('Q1ABC:rule-2:0')].sort());
      const search = jira.requests.find((r) => r.method === 'GET')!;
      assert.equal(search.path, '/rest/api/3/search/jql');
      assert.equal(search.query.get('jql'), `labels = "${idempotencyLabel('Q1ABC:rule-2:0')}" ORDER BY created ASC`);
    });

    it('bad credentials are a permanent error', async () => {
      await assert.rejects(provider('wrong').create(input('k')), (err: Error) => err instanceof HttpCallError && err.status === 401 && !err.retryable);
    });

    it('an unknown project is a permanent 400', async () => {
      const p = createJiraProvider({ baseUrl: jira.baseUrl, email: jira.email, apiTokenRef: 'env:T', projectKey: 'NOPE' }, { env: { T: jira.token } });
      await assert.rejects(p.create(input('k')), (err: Error) => err instanceof HttpCallError && err.status === 400 && !err.retryable);
    });
  });

  describe('GitHub Issues', () => {
    let gh: GitHubPeer;
    beforeEach(async () => {
      gh = await startGitHubPeer();
    });
    afterEach(async () => {
      await gh.close();
    });
    const provider = () => createGitHubProvider({ apiUrl: gh.apiUrl, owner: gh.owner, repo: gh.repo, tokenRef: 'env:GH_TOKEN' }, { env: { GH_TOKEN: gh.token } });

    it('creates one issue carrying the hidden marker, even when called twice', async () => {
      const first = await createWorkItemOnce(provider(), input('Q1ABC:rule-3:0'));
      const second = await createWorkItemOnce(provider(), input('Q1ABC:rule-3:0'));
      assert.deepEqual(gh.violations, []);
      assert.equal(gh.issues.length, 1);
      assert.deepEqual([first.created, second.created], [true, false]);
      assert.equal(second.id, '1');
      assert.equal(second.url, `https://github.com/${gh.owner}/${gh.repo}/issues/1`);
      const issue = gh.issues[0]!;
      assert.ok(issue.body.startsWith('<!-- selfheal:Q1ABC:rule-3:0 -->\n\nPagerDuty incident Q1ABC.'), issue.body);
      assert.deepEqual(issue.labels, ['selfheal', 'selfheal-auto']);
      const list = gh.requests.find((r) => r.method === 'GET')!;
      assert.equal(list.query.get('labels'), 'selfheal');
      assert.equal(list.query.get('state'), 'all');
    });

    it('a redirect is not followed: a 307 (a moved repository) fails once as nothing done, a 303 to the create keeps its outcome uncertain', async () => {
      // Every path of a second peer answers as GitHub does for a renamed repository, or a 303 to a write;
      // `to` is where the redirect would have led, with a token in its query that the error must not repeat.
      const to = await startHttpPeer([]);
      const moved = await startHttpPeer([
        { method: 'GET', path: /.*/, handle: () => ({ status: 307, headers: { location: `${to.url}/repositories/42/issues?token=gho_SECRET` }, text: '' }) },
        { method: 'POST', path: /.*/, handle: () => ({ status: 303, headers: { location: '/repos/o/r/issues/7' }, text: '' }) },
      ]);
      try {
        const p = createGitHubProvider({ apiUrl: moved.url, owner: 'o', repo: 'r', tokenRef: 'env:GH_TOKEN' }, { env: { GH_TOKEN: 't' } });
        const fix = "redirects are not followed; set GITHUB_API_URL to the address that answers (or the action's repo to where the repository moved)";
        const looked = await p.findByIdempotencyKey('Q1ABC:rule-3:0').then(() => assert.fail('a 307 is not an answer'), (err: unknown) => err as HttpCallError);
        assert.ok(looked instanceof HttpCallError && !looked.retryable, String(looked));
        assert.equal(looked.message, `github: HTTP 307, redirecting to "${to.url}" (path withheld): ${fix}`);
        assert.equal(whatHappened(looked), 'nothing');
        const created = await p.create(input('Q1ABC:rule-3:0')).then(() => assert.fail('a 303 is not an answer'), (err: unknown) => err as HttpCallError);
        assert.ok(created instanceof HttpCallError && !created.retryable, String(created));
        assert.equal(created.message, `github: HTTP 303, redirecting to "${moved.url}" (path withheld): ${fix}`);
        // A 303 to a write says its result is elsewhere: the issue may exist, so the next attempt looks first.
        assert.equal(whatHappened(created), 'uncertain');
        assert.deepEqual(moved.requests.map((r) => r.method), ['GET', 'POST'], 'one request each, none followed');
        assert.deepEqual(to.requests, []);
      } finally {
        await Promise.all([to.close(), moved.close()]);
      }
    });

    it("a title and a description past GitHub's limits are cut to fit (before: 422 on every attempt), the marker kept first", async () => {
      // An incident title rendered in can be 64 KiB; GitHub takes 256 characters of title and 65,536 of body.
      const long = { idempotencyKey: 'Q7LONG:rule-3:0', title: `Disk full ${'😀'.repeat(200)}`, description: `${'x'.repeat(65_519)}😀${'y'.repeat(5_000)}` };
      const made = await createWorkItemOnce(provider(), long);
      assert.deepEqual(gh.violations, []);
      assert.equal(made.created, true);
      const issue = gh.issues[0]!;
      assert.ok([...issue.title].length <= 256 && issue.title.startsWith('Disk full 😀'), issue.title);
      assert.doesNotMatch(issue.title + issue.body, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, 'no half of an emoji left');
      assert.ok(issue.body.length <= 65_536, String(issue.body.length));
      assert.ok(issue.body.startsWith(`${idempotencyMarker('Q7LONG:rule-3:0')}\n\nxxx`));
      assert.ok(issue.body.endsWith(TRUNCATED));
      assert.equal((await provider().findByIdempotencyKey('Q7LONG:rule-3:0'))?.id, '1');
    });

    it('finds an issue an earlier release wrote (marker last) after a lost answer across the upgrade, but not one whose first line is another marker', async () => {
      const now = new Date().toISOString();
      const old = (number: number, body: string) => ({ number, title: 'Disk full', body, labels: ['selfheal'], html_url: `https://github.com/${gh.owner}/${gh.repo}/issues/${number}`, created_at: now, updated_at: now });
      gh.issues.push(old(1, `PagerDuty incident Q8OLD.\n\n${idempotencyMarker('Q8OLD:rule-3:0')}\n`));
      gh.issues.push(old(2, `${idempotencyMarker('Q9NEW:rule-3:0')}\n\nquoting ${idempotencyMarker('Q8OTHER:rule-3:0')}\n\n${idempotencyMarker('Q8OTHER:rule-3:0')}`));
      assert.equal((await provider().findByIdempotencyKey('Q8OLD:rule-3:0'))?.id, '1');
      assert.equal(await provider().findByIdempotencyKey('Q8OTHER:rule-3:0'), null);
      assert.equal((await provider().findByIdempotencyKey('Q9NEW:rule-3:0'))?.id, '2');
    });

    it('finds the marker beyond the first page', async () => {
      const p = provider();
      await p.create(input('old-key'));
      for (let i = 0; i < 120; i++) await p.create(input(`filler-${i}`));
      const found = await p.findByIdempotencyKey('old-key');
      assert.equal(found?.id, '1');
      assert.equal(await p.findByIdempotencyKey('never-created'), null);
    });

    it('rejects keys that could break out of the marker', async () => {
      await assert.rejects(provider().create(input('a --> b')), /idempotency key/);
    });
  });
});
