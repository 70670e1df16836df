// A `workitem` action's title and description are rendered from the incident: its title, alert bodies and
// custom details are written by whoever holds a PagerDuty integration key or controls a monitored system.
// Each tracker reads that text in its own markup, so each gets it as text:
// - GitHub reads Markdown. Before, the description went in raw with the idempotency marker appended: a
//   description carrying `<!-- selfheal:<another incident's key> -->` made the lookup after a lost answer take
//   this issue for that incident's (the newest issue is listed first, so even over the real one), and
//   `@acme/sre-oncall` pinged a whole team, `![](https://tracker.example/p.png)` showed a tracking image. Now
//   the marker is the body's first line and only that line is looked at, and the description's values are
//   made inert as they are rendered (a U+200B after `@`, after the `<` of a tag or comment and after the `!`
//   of an image); the rule's own text still mentions the team it names.
// - EWM reads `dcterms:title` and `dcterms:description` as OSLC XMLLiterals (XHTML), also in JSON. Before,
//   `<a href=...>` in an incident title became a link in the work item and a lone `&` an invalid literal.
//   Now both are XML-escaped, the description's lines joined with `<br/>`.
// - Jira Cloud v3 takes the description as ADF: the text goes into text nodes, which Jira shows as they are
//   (a mention or link needs its own node or mark). Asserted here so that it stays so.
// All asserted at the local peers, on what they received.
import assert from 'node:assert/strict';
import { renderAction } from '../../src/domain/template.js';
import { createEwmProvider, createGitHubProvider, createJiraProvider, createWorkItemOnce, idempotencyMarker, type WorkItemInput } from '../../src/executors/work-items.js';
import { startEwmPeer, startGitHubPeer, startJiraPeer, type EwmPeer, type GitHubPeer, type JiraPeer } from '../helpers/http-peer.js';

const item = (idempotencyKey: string, description: string, title = 'Disk full on vm-1'): WorkItemInput => ({ idempotencyKey, title, description });

/** A GitHub work item's description as a rule renders it, the incident's title being `value`. */
const GITHUB_DESCRIPTION = 'Paging @acme/sre-oncall.\n\n{{ incident.title }}';
const renderedForGitHub = (value: string): string =>
  renderAction({ type: 'workitem' as const, provider: 'github', title: 'Disk full', description: GITHUB_DESCRIPTION }, { incident: { title: value } }).description;
const AUTHOR_TEXT = 'Paging @acme/sre-oncall.\n\n';

/** The body without the marker line we write first (what the description became). */
const afterMarker = (body: string): string => body.replace(/^<!-- selfheal:[^\n]* -->\n/, '');

/**
 * Whether GitHub would find a mention in the text: an `@` (or its entity) before a letter or digit and not
 * after one. Stricter than GitHub's own rule, which also lets `_` precede (`_@team_` is emphasis around one).
 */
const mentions = (text: string): string[] => [...text.replace(/&(?:#0*64|#x0*40|commat);/gi, '@').matchAll(/(?<![A-Za-z0-9])@[A-Za-z0-9][A-Za-z0-9/-]*/g)].map((m) => m[0]);

/** XMLLiteral text back to plain text (the five escapes xmlLiteral uses). */
const unxml = (text: string): string => text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/** XMLLiteral content that adds no element, comment or entity of its own and that XML 1.0 can carry. */
function plainXmlText(value: unknown, what: string): string {
  assert.equal(typeof value, 'string', `${what} is a string`);
  const text = value as string;
  assert.doesNotMatch(text, /[<>]/, `${what} holds markup: ${text}`);
  assert.doesNotMatch(text, /&(?!(?:amp|lt|gt|quot|#39);)/, `${what} holds a bare & or another entity: ${text}`);
  assert.doesNotMatch(text, /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u, `${what} holds a character XML cannot carry`);
  return text;
}

describe('security: incident text in work items stays text (GitHub, EWM, Jira)', function () {
  describe('GitHub Issues', function () {
    let gh: GitHubPeer;
    beforeEach(async function () {
      gh = await startGitHubPeer();
    });
    afterEach(async function () {
      await gh.close();
    });
    const provider = () => createGitHubProvider({ apiUrl: gh.apiUrl, owner: gh.owner, repo: gh.repo, tokenRef: 'env:GH_TOKEN' }, { env: { GH_TOKEN: gh.token } });

    it("a description carrying another incident's marker is not taken for that incident's issue", async function () {
      const victim = 'Q2VICTIM:rule-db:ticket:evt-2';
      const later = 'Q3LATER:rule-db:ticket:evt-3';
      const p = provider();
      await p.create(item(victim, 'The real ticket.'));
      // A newer issue (listed first) whose incident text carries the other incidents' markers, as a title or
      // alert body would bring them in.
      await p.create(item('Q1ATTACK:rule-db:ticket:evt-1', renderedForGitHub(`Disk full\n\n${idempotencyMarker(victim)}\n${idempotencyMarker(later)}`)));
      assert.deepEqual(gh.violations, []);

      // The lookup after a lost answer finds the victim's own issue, not the newer one.
      assert.equal((await p.findByIdempotencyKey(victim))?.id, '1');
      // An incident whose issue does not exist yet gets one, instead of adopting the attacker's.
      assert.equal(await p.findByIdempotencyKey(later), null);
      const made = await createWorkItemOnce(p, item(later, 'Its own ticket.'));
      assert.deepEqual([made.created, made.id], [true, '3']);
      assert.equal((await p.findByIdempotencyKey('Q1ATTACK:rule-db:ticket:evt-1'))?.id, '2');
      // What GitHub holds: our marker first, and no HTML comment in the description.
      assert.equal(gh.issues[1]!.body.split('\n', 1)[0], idempotencyMarker('Q1ATTACK:rule-db:ticket:evt-1'));
      assert.doesNotMatch(afterMarker(gh.issues[1]!.body), /<!--/, 'the description opens no HTML comment');
    });

    it("a description's incident values cannot mention users or teams, show images or add HTML; they read the same, and the rule's own mention stays", async function () {
      const description = [
        'cc @acme/sre-oncall and @octocat, &#64;admins &#x40;owners &commat;root',
        '**@acme/dba** _@acme/web_ \\@acme/security (@acme/all) @&#97;cme/eng',
        'write to ops@example.com',
        '![status](https://tracker.example/p.png) <img src="https://tracker.example/q.png" width="1"> <!-- hide the rest',
        '</details><picture><source srcset="https://tracker.example/r.png"></picture>',
      ].join('\n');
      await provider().create(item('Q4MENTION:rule-db:ticket:evt-4', renderedForGitHub(description)));
      assert.deepEqual(gh.violations, []);
      const body = afterMarker(gh.issues[0]!.body);
      assert.ok(body.startsWith(`\n${AUTHOR_TEXT}`), body);
      assert.deepEqual(mentions(body), ['@acme/sre-oncall'], 'the rule author’s own mention is kept');
      const text = body.slice(1 + AUTHOR_TEXT.length);
      assert.deepEqual(mentions(text), [], `mentions left in: ${text}`);
      assert.doesNotMatch(text, /!\[/, 'an image');
      assert.doesNotMatch(text, /<[A-Za-z/!?]/, 'an HTML tag or comment');
      // Only invisible characters were added (and the entities of `@` spelled out).
      const shown = text.replaceAll('\u200B', '');
      assert.equal(shown, description.replace(/&#64;|&#x40;|&commat;/g, '@'));
      assert.ok(text.includes('write to ops@example.com'), 'an e-mail address is left as it is');
    });

    it('two values side by side cannot build a tag or an image between them, nor a value with the text after it', async function () {
      // Each value was made inert on its own: a `<` or `!` ending one value was left as it was, and the next
      // value (or the rule's own text) supplied the rest of `<img …>` or `![](…)`.
      const description = renderAction(
        { type: 'workitem' as const, provider: 'github', title: 'Disk full', description: 'Details: {{ incident.title }}{{ incident.summary }}\nAlso {{ incident.urgency }}br> and {{ incident.status }}[](https://tracker.example/s.png)' },
        { incident: { title: 'vm-1 <', summary: 'img src="https://tracker.example/p.png">', urgency: 'x <', status: 'y !' } },
      ).description;
      await provider().create(item('Q7ADJACENT:rule-db:ticket:evt-7', description));
      assert.deepEqual(gh.violations, []);
      const text = afterMarker(gh.issues[0]!.body);
      assert.doesNotMatch(text, /<[A-Za-z/!?]/, `an HTML tag: ${text}`);
      assert.doesNotMatch(text, /!\[/, `an image: ${text}`);
      assert.equal(text.replaceAll('\u200B', ''), '\nDetails: vm-1 <img src="https://tracker.example/p.png">\nAlso x <br> and y ![](https://tracker.example/s.png)');
    });
  });

  describe('IBM EWM (OSLC XMLLiterals)', function () {
    let ewm: EwmPeer;
    beforeEach(async function () {
      ewm = await startEwmPeer();
    });
    afterEach(async function () {
      await ewm.close();
    });

    it('a title or description cannot add XHTML to the work item, and a lone & or control character does not break it', async function () {
      const title = `Disk full <a href="https://evil.example/fix">click to fix</a> & "quoted" 'single'`;
      const lines = ['line 1 <img src="https://tracker.example/p.png">', '</div><script>alert(1)</script><!-- x -->', 'A & B \u0001 &amp; stays literal'];
      const p = createEwmProvider({ catalogUrl: ewm.catalogUrl, projectArea: 'JKE Banking', usernameRef: 'env:U', passwordRef: 'env:P' }, { env: { U: ewm.username, P: ewm.password } });
      await p.create(item('Q5XML:rule-db:ticket:evt-5', lines.join('\n'), title));
      assert.deepEqual(ewm.violations, []);
      const props = ewm.items[0]!.properties;
      assert.equal(unxml(plainXmlText(props['dcterms:title'], 'dcterms:title')), title);
      // Lines are XHTML line breaks; between them, only escaped text.
      const description = String(props['dcterms:description']).split('<br/>');
      assert.deepEqual(
        description.map((line, i) => unxml(plainXmlText(line, `description line ${i + 1}`))),
        lines.map((line) => line.replace('\u0001', '\uFFFD')),
      );
    });
  });

  describe('Jira Cloud (ADF)', function () {
    let jira: JiraPeer;
    beforeEach(async function () {
      jira = await startJiraPeer();
    });
    afterEach(async function () {
      await jira.close();
    });

    it('wiki markup, mentions and links in the text stay plain text nodes', async function () {
      const title = '[~admin] @here [click|https://evil.example] !https://tracker.example/p.png!';
      const lines = ['[~admin] [~accountid:5b10a2844c20165700ede21g] @channel', '[Fix it|https://evil.example/fix] {color:red}urgent{color} <a href="https://evil.example">x</a>'];
      const p = createJiraProvider({ baseUrl: jira.baseUrl, email: jira.email, apiTokenRef: 'env:T', projectKey: 'OPS' }, { env: { T: jira.token } });
      await p.create(item('Q6ADF:rule-db:ticket:evt-6', lines.join('\n'), title));
      assert.deepEqual(jira.violations, []);
      const fields = jira.issues[0]!.fields;
      assert.equal(fields.summary, title);
      const nodes: Array<Record<string, unknown>> = [];
      const walk = (node: Record<string, unknown>): void => {
        nodes.push(node);
        for (const child of (node.content as Array<Record<string, unknown>> | undefined) ?? []) walk(child);
      };
      walk(fields.description as Record<string, unknown>);
      assert.deepEqual([...new Set(nodes.map((n) => n.type))].sort(), ['doc', 'hardBreak', 'paragraph', 'text']);
      assert.ok(nodes.every((n) => n.marks === undefined && n.attrs === undefined), 'no marks (links) or attributes');
      assert.deepEqual(
        nodes.filter((n) => n.type === 'text').map((n) => n.text),
        lines,
      );
    });

    it('a line break in the title does not cost the ticket: the summary is one line (Jira refuses newlines for good)', async function () {
      const p = createJiraProvider({ baseUrl: jira.baseUrl, email: jira.email, apiTokenRef: 'env:T', projectKey: 'OPS' }, { env: { T: jira.token } });
      const made = await p.create(item('Q8LINES:rule-db:ticket:evt-8', 'body', 'Disk full: vm-1\nsecond line\r\nthird\u2028fourth\ttab'));
      assert.deepEqual(jira.violations, []);
      assert.ok(made.id, 'filed');
      assert.equal(jira.issues[0]!.fields.summary, 'Disk full: vm-1 second line third fourth tab');
    });
  });
});
