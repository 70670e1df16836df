import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import {
  MAX_VALUE_LENGTH,
  defaultExtractors,
  extractEnvironment,
  extractorsConfigSchema,
  parsePath,
} from '../../src/domain/extract.js';
import { isValidPath } from '../../src/domain/json-path.js';

const alertsSample = JSON.parse(
  readFileSync(new URL('../fixtures/pagerduty/samples/rest-GET-incident-alerts-response-alertmanager-real.json', import.meta.url), 'utf8'),
) as { alerts: Record<string, unknown>[] };

function alert(details: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'A1', type: 'alert', body: { type: 'alert_body', details, ...extra } };
}

describe('environment extraction', () => {
  it('gets host, environment, region and cluster from a real Alertmanager alert with defaults only', () => {
    const result = extractEnvironment({ title: '[#618441] [PROD-WEST] OpenSearch Cluster Yellow', alerts: alertsSample.alerts }, {});
    // Trailing newline and spaces of the real `instance` value are trimmed.
    assert.equal(result.host, 'prod-west-external-monitor');
    assert.equal(result.environment, 'prod-west');
    assert.equal(result.region, 'west');
    assert.equal(result.cluster, '245087973473:prod-west');
    assert.equal(result.account, undefined);
    assert.deepEqual(result.sources, {
      host: 'default:details.instance',
      environment: 'default:details.environment',
      cluster: 'default:alertmanager-label:cluster|k8s_cluster',
      region: 'default:title-tag',
    });
  });

  it('reads a [PROD-WEST] title tag as environment prod, region west', () => {
    const result = extractEnvironment({ title: '[PROD-WEST] OpenSearch Cluster Yellow' });
    assert.equal(result.environment, 'prod');
    assert.equal(result.region, 'west');
    assert.equal(extractEnvironment({ title: '[staging us-east-1] disk full' }).region, 'us-east-1');
    assert.equal(extractEnvironment({ title: '[Prod] disk full' }).environment, 'prod');
    // Ticket numbers and severities in brackets are not environments.
    assert.deepEqual(extractEnvironment({ title: '[#618441] [CRITICAL] disk full' }), { sources: {} });
  });

  it('uses common detail keys and cef_details', () => {
    const result = extractEnvironment({
      alerts: [alert({ hostname: 'db-1', env: 'stage', aws_region: 'eu-west-1', account_id: 123456789012, k8s_cluster: 'blue' })],
    });
    assert.equal(result.host, 'db-1');
    assert.equal(result.environment, 'stage');
    assert.equal(result.region, 'eu-west-1');
    assert.equal(result.account, '123456789012');
    assert.equal(result.cluster, 'blue');

    const cef = extractEnvironment({ alerts: [{ body: { cef_details: { source_location: 'web-7', details: { region: 'ap-south-1' } } } }] });
    assert.equal(cef.host, 'web-7');
    assert.equal(cef.sources['host'], 'default:cef_details.source_location');
    // custom details only under cef_details.details are still found.
    assert.equal(cef.region, 'ap-south-1');
  });

  it('looks at every alert, first one that has the field wins', () => {
    const result = extractEnvironment({ alerts: [alert({ note: 'x' }), alert({ host: 'second' }), alert({ host: 'third' })] });
    assert.equal(result.host, 'second');
  });

  it('named regex groups become fields, from the chosen source', () => {
    const config = {
      extractors: [
        { type: 'regex' as const, source: 'details' as const, pattern: 'cluster = (?<account>\\d+):(?<cluster>[\\w-]+)' },
        { type: 'regex' as const, source: 'description' as const, pattern: 'pod (?<pod>[a-z0-9-]+)', name: 'pod-from-description' },
      ],
    };
    const result = extractEnvironment(
      { title: 'pod api-7 is down', description: 'pod api-9 restarted', alerts: alertsSample.alerts },
      config,
    );
    assert.equal(result.account, '245087973473');
    assert.equal(result.cluster, 'prod-west');
    assert.equal(result['pod'], 'api-9');
    assert.equal(result.sources['pod'], 'pod-from-description');
    assert.match(result.sources['cluster']!, /^regex:details:/);
  });

  it("source 'any' tries title, then description, then details", () => {
    const config = { extractors: [{ type: 'regex' as const, source: 'any' as const, pattern: 'svc=(?<svc>\\w+)' }], useDefaults: false };
    assert.equal(extractEnvironment({ title: 'svc=a', description: 'svc=b' }, config)['svc'], 'a');
    assert.equal(extractEnvironment({ description: 'svc=b', alerts: [alert({ m: 'svc=c' })] }, config)['svc'], 'b');
    assert.equal(extractEnvironment({ alerts: [alert({ m: 'svc=c' })] }, config)['svc'], 'c');
  });

  it('jsonpath extractors support [n], [*] and * over the alert', () => {
    const alerts = [alert({ nodes: [{ name: 'n0' }, { name: 'n1' }], tags: { a: '', b: 'bee' } }, { contexts: [{ href: 'https://runbook' }] })];
    const result = extractEnvironment({ alerts }, {
      extractors: [
        { type: 'jsonpath', field: 'second', path: 'details.nodes[1].name' },
        { type: 'jsonpath', field: 'anyNode', path: 'details.nodes[*].name' },
        { type: 'jsonpath', field: 'tag', path: 'details.tags.*' },
        { type: 'jsonpath', field: 'runbook', path: 'body.contexts[0].href' },
        { type: 'jsonpath', field: 'missing', path: 'details.nodes[5].name' },
      ],
      useDefaults: false,
    });
    assert.equal(result['second'], 'n1');
    assert.equal(result['anyNode'], 'n0');
    assert.equal(result['tag'], 'bee');
    assert.equal(result['runbook'], 'https://runbook');
    assert.equal(result['missing'], undefined);
    assert.equal(result.sources['second'], 'jsonpath:details.nodes[1].name');
  });

  it('jsonpath extractors share the rules\' path grammar: quoted keys reach names with dots, own properties only', () => {
    const alerts = [alert({ labels: { 'kubernetes.io/hostname': 'node-7', constructor: 'own' }, list: ['x'] }, {})];
    const result = extractEnvironment({ alerts }, {
      extractors: [
        { type: 'jsonpath', field: 'node', path: 'details.labels["kubernetes.io/hostname"]' },
        { type: 'jsonpath', field: 'ctor', path: "details.labels['constructor']" },
        { type: 'jsonpath', field: 'proto', path: 'details.list.constructor' },
      ],
      useDefaults: false,
    });
    assert.equal(result['node'], 'node-7');
    assert.equal(result['ctor'], 'own');
    assert.equal(result['proto'], undefined);
    // The same grammar refuses what conditions and templates refuse (a filter, an expression, a bare dot)...
    for (const path of ['details.host | upper', 'details.host + 1', 'details.', '.details']) {
      assert.equal(extractorsConfigSchema.safeParse({ extractors: [{ type: 'jsonpath', field: 'h', path }] }).success, false, path);
    }
    // ...and wildcards stay an extractor's own: a rule condition may not use them.
    assert.equal(isValidPath('alert.details.tags.*'), false);
    assert.equal(isValidPath('alert.details.nodes[*]'), false);
  });

  it('configured extractors beat the service map, which beats the defaults', () => {
    const alerts = [alert({ environment: 'from-details', region: 'from-details', host: 'h1' }, {})].map((a) => ({ ...a, service: { id: 'PSVC' } }));
    const result = extractEnvironment({ alerts }, {
      extractors: [{ type: 'jsonpath', field: 'environment', path: 'details.host', name: 'mine' }],
      serviceMap: { PSVC: { environment: 'mapped', region: 'mapped-region', team: 'core' } },
    });
    assert.equal(result.environment, 'h1');
    assert.equal(result.sources['environment'], 'mine');
    assert.equal(result.region, 'mapped-region');
    assert.equal(result.sources['region'], 'serviceMap:PSVC');
    assert.equal(result['team'], 'core');
    assert.equal(result.host, 'h1');
    // An explicit service id is used over the alerts' service.
    const explicit = extractEnvironment({ serviceId: 'OTHER', alerts }, { serviceMap: { PSVC: { region: 'mapped' } } });
    assert.equal(explicit.region, 'from-details');
  });

  it('can switch the defaults off', () => {
    assert.deepEqual(extractEnvironment({ title: '[PROD-WEST] x', alerts: alertsSample.alerts }, { useDefaults: false }), { sources: {} });
  });

  it('keeps values as inert, capped strings', () => {
    const long = 'x'.repeat(5000);
    const result = extractEnvironment({
      alerts: [alert({ host: long, environment: '$(rm -rf /); {{secret}}', region: { nested: 'obj' }, account: '   ', cluster: null })],
    });
    assert.equal(result.host?.length, MAX_VALUE_LENGTH);
    assert.equal(result.environment, '$(rm -rf /); {{secret}}');
    assert.equal(result.region, undefined);
    assert.equal(result.account, undefined);
    assert.equal(result.cluster, undefined);
  });

  it('tolerates junk input', () => {
    assert.deepEqual(extractEnvironment({}), { sources: {} });
    assert.deepEqual(extractEnvironment({ alerts: [null, 7, 'x', [], { body: 'str' }, { body: { details: 'plain text custom details' } }] }), { sources: {} });
  });

  it('handles field names that collide with Object.prototype', () => {
    const result = extractEnvironment({ title: 'ctor=abc' }, { extractors: [{ type: 'regex', source: 'title', pattern: 'ctor=(?<constructor>\\w+)' }], useDefaults: false });
    assert.equal(result['constructor'], 'abc');
    assert.equal(result.sources['constructor'], 'regex:title:/ctor=(?<constructor>\\w+)/');
  });
});

describe('extractor config schema', () => {
  it('accepts the documented shapes and fills defaults', () => {
    const config = extractorsConfigSchema.parse({
      extractors: [
        { type: 'regex', source: 'title', pattern: '\\[(?<environment>\\w+)\\]', flags: 'i' },
        { type: 'jsonpath', field: 'host', path: 'cef_details.source_location' },
      ],
      serviceMap: { PABC123: { environment: 'prod', region: 'us-east-1', account: '1234', cluster: 'c1' } },
    });
    assert.equal(config.extractors.length, 2);
    assert.equal(config.useDefaults, true);
    assert.deepEqual(extractorsConfigSchema.parse({}), { extractors: [], serviceMap: {}, useDefaults: true });
  });

  it('refuses a repeated or foreign flag and takes each of i, m, s, u once', () => {
    const flagsOf = (flags: string) => extractorsConfigSchema.safeParse({ extractors: [{ type: 'regex', source: 'title', pattern: '(?<host>x)', flags }] });
    assert.equal(flagsOf('imsu').success, true);
    assert.equal(flagsOf('').success, true);
    for (const flags of ['ii', 'imsi', 'imsux', 'g']) {
      const result = flagsOf(flags);
      assert.equal(result.success, false, flags);
      assert.ok(result.error.issues.some((issue) => issue.path.join('.') === 'extractors.0.flags'), flags);
    }
  });

  it('refuses a flags string of 60,000 distinct characters (the old back-reference check was quadratic in it)', function () {
    // An operator's extractors file is read at start-up; this took the old pattern ~11 s. The timeout is a
    // hang detector (the check is linear: milliseconds), not a speed figure.
    this.timeout(5_000);
    const flags = Array.from({ length: 60_000 }, (_, i) => String.fromCharCode(0x2030 + i)).join(''); // none ends a line for `.`
    const result = extractorsConfigSchema.safeParse({ extractors: [{ type: 'regex', source: 'title', pattern: '(?<host>x)', flags }] });
    assert.equal(result.success, false);
    assert.ok(result.error.issues.some((issue) => issue.path.join('.') === 'extractors.0.flags'));
  });

  it('rejects broken extractors with the offending path', () => {
    const cases: [unknown, string][] = [
      [{ extractors: [{ type: 'regex', source: 'title', pattern: '(unclosed' }] }, 'extractors.0.pattern'],
      [{ extractors: [{ type: 'regex', source: 'title', pattern: 'no groups' }] }, 'extractors.0.pattern'],
      // What RE2 cannot run in linear time is refused (a backtracking engine would pin a worker on it).
      [{ extractors: [{ type: 'regex', source: 'title', pattern: '(?<host>\\w+)(?=\\.prod)' }] }, 'extractors.0.pattern'],
      [{ extractors: [{ type: 'regex', source: 'title', pattern: '(?<sources>x)' }] }, 'extractors.0.pattern'],
      [{ extractors: [{ type: 'regex', source: 'title', pattern: '(?<a>x)', flags: 'g' }] }, 'extractors.0.flags'],
      [{ extractors: [{ type: 'regex', source: 'body', pattern: '(?<a>x)' }] }, 'extractors.0.source'],
      [{ extractors: [{ type: 'jsonpath', field: 'host', path: 'details..host' }] }, 'extractors.0.path'],
      [{ extractors: [{ type: 'jsonpath', field: 'host', path: 'details.x[a]' }] }, 'extractors.0.path'],
      [{ extractors: [{ type: 'jsonpath', field: '1bad', path: 'details.host' }] }, 'extractors.0.field'],
      [{ extractors: [{ type: 'jsonpath', field: 'sources', path: 'details.host' }] }, 'extractors.0.field'],
      [{ extractors: [{ type: 'xpath', field: 'a', path: 'b' }] }, 'extractors.0.type'],
      [{ serviceMap: { P1: { environment: 'x'.repeat(MAX_VALUE_LENGTH + 1) } } }, 'serviceMap.P1.environment'],
    ];
    for (const [input, path] of cases) {
      const result = extractorsConfigSchema.safeParse(input);
      assert.equal(result.success, false, JSON.stringify(input));
      if (!result.success) assert.ok(result.error.issues.some((issue) => issue.path.join('.') === path), `${path}: ${JSON.stringify(result.error.issues)}`);
    }
  });

  it('built-in defaults are themselves valid config', () => {
    assert.equal(extractorsConfigSchema.safeParse({ extractors: defaultExtractors }).success, true);
  });

  it('parses simple paths', () => {
    assert.deepEqual(parsePath('details.nodes[2].name'), [
      { kind: 'key', key: 'details' },
      { kind: 'key', key: 'nodes' },
      { kind: 'index', index: 2 },
      { kind: 'key', key: 'name' },
    ]);
    assert.deepEqual(parsePath('a.*[*]'), [{ kind: 'key', key: 'a' }, { kind: 'wildcard' }, { kind: 'wildcard' }]);
    assert.equal(parsePath(''), undefined);
    assert.equal(parsePath('a.'), undefined);
    assert.equal(parsePath('a[1'), undefined);
  });
});
