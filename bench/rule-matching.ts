/**
 * Rule matching benchmark: how long matching one incident takes (context build + index lookup +
 * condition evaluation with explanations) with 10, 1,000 and 10,000 realistic rules spread over 200
 * PagerDuty services. Target: median < 1 ms at 10,000 rules.
 *
 *   tsx bench/rule-matching.ts
 */
import { pathToFileURL } from 'node:url';
import { buildContext, matchRules, RuleIndex, ruleSchema, type Rule } from '../src/domain/rules/index.js';

export interface RuleMatchingResult {
  rules: number;
  medianMicros: number;
  p99Micros: number;
}

const SERVICES = Array.from({ length: 200 }, (_, i) => `PSVC${String(i).padStart(3, '0')}`);
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2'];
const ALERTS = ['DiskFull', 'NodeFilesystemAlmostOutOfSpace', 'HighCPU', 'OOMKilled', 'PostgresReplicationLag', 'CertificateExpiry'];
const TITLES = [
  'Disk full on db-{n}.prod.example.com',
  'Disk usage above 95% on web-{n}',
  'High CPU on api-{n}.stage.example.com',
  'Replication lag 300s on pg-{n}',
  'Certificate for svc-{n}.example.com expires in 3 days',
];

/** Small deterministic PRNG so runs are comparable. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function makeRule(i: number, random: () => number): Rule {
  const global = random() < 0.02;
  const services = global ? ['*'] : [...new Set([pick(random, SERVICES), ...(random() < 0.3 ? [pick(random, SERVICES)] : [])])];
  const alert = pick(random, ALERTS);
  const predicates: unknown[] = [
    { field: 'incident.urgency', op: 'equals', value: random() < 0.8 ? 'high' : 'low' },
    { field: 'alert.details.alertname', op: 'in', value: [alert, pick(random, ALERTS)] },
  ];
  if (random() < 0.6) predicates.push({ field: 'incident.title', op: 'matches', value: `^(Disk|High CPU|Replication) .*-${i % 50}\\b`, flags: 'i' });
  if (random() < 0.5) predicates.push({ field: 'environment.region', op: 'in', value: [pick(random, REGIONS), pick(random, REGIONS)] });
  if (random() < 0.3) predicates.push({ not: { field: 'environment.environment', op: 'startsWith', value: 'dev' } });
  if (random() < 0.2) predicates.push({ field: 'alert.details.used_percent', op: 'gte', value: 90 });
  if (random() < 0.1) {
    predicates.push({ timeWindow: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '20:00', timezone: 'Europe/Paris' } });
  }
  const conditions = random() < 0.3 ? { any: predicates } : { all: predicates };
  return ruleSchema.parse({
    id: `rule-${i}`,
    version: 1,
    name: `rule-${String(i).padStart(5, '0')}`,
    services,
    eventTypes: random() < 0.9 ? ['incident.triggered'] : ['incident.triggered', 'incident.reopened'],
    priority: Math.floor(random() * 200),
    stopOnMatch: random() < 0.05,
    enabled: random() < 0.95,
    conditions,
    actions: [
      { type: 'script.agent', script: 'disk/cleanup.sh', args: ['{{ environment.host }}'], idempotent: true },
      { type: 'pagerduty.note', content: 'Ran cleanup on {{ environment.host }}' },
    ],
  });
}

function makeIncident(i: number, random: () => number) {
  const n = Math.floor(random() * 100);
  return {
    incident: {
      id: `PINC${i}`,
      title: pick(random, TITLES).replace('{n}', String(n)),
      urgency: random() < 0.7 ? 'high' : 'low',
      status: 'triggered',
      priority: { id: 'P1', summary: 'P1' },
      service: { id: pick(random, SERVICES), summary: 'svc' },
      created_at: '2024-05-06T11:50:00Z',
    },
    environment: { host: `db-${n}.prod.example.com`, region: pick(random, REGIONS), environment: random() < 0.8 ? 'prod' : 'dev' },
    alerts: [{ id: `A${i}`, body: { details: { alertname: pick(random, ALERTS), used_percent: 80 + random() * 20 } } }],
    event: { id: `E${i}`, event_type: 'incident.triggered', occurred_at: '2024-05-06T11:55:00Z' },
  };
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

async function measure(ruleCount: number, iterations = 3000): Promise<RuleMatchingResult> {
  const random = prng(ruleCount);
  const rules = Array.from({ length: ruleCount }, (_, i) => makeRule(i, random));
  const index = new RuleIndex(rules);
  const incidents = Array.from({ length: 500 }, (_, i) => makeIncident(i, random));
  const now = new Date('2024-05-06T12:00:00Z');
  let sink = 0;
  for (let i = 0; i < 500; i++) sink += matchRules(index, buildContext(incidents[i % incidents.length]!), now).length; // warm-up
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const input = incidents[i % incidents.length]!;
    const started = performance.now();
    sink += matchRules(index, buildContext(input), now).length;
    samples.push((performance.now() - started) * 1000);
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  if (sink < 0) throw new Error('unreachable');
  samples.sort((a, b) => a - b);
  return {
    rules: ruleCount,
    medianMicros: Math.round(percentile(samples, 50) * 10) / 10,
    p99Micros: Math.round(percentile(samples, 99) * 10) / 10,
  };
}

export async function runRuleMatchingBench(): Promise<RuleMatchingResult[]> {
  const results: RuleMatchingResult[] = [];
  for (const count of [10, 1_000, 10_000]) results.push(await measure(count));
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runRuleMatchingBench();
  console.table(results);
  const largest = results[results.length - 1];
  if (largest && largest.medianMicros >= 1000) {
    console.error(`rule matching median ${largest.medianMicros} µs at ${largest.rules} rules exceeds the 1 ms target`);
    process.exitCode = 1;
  }
}
