// `selfheal export`: every environment, job and rule as documents that `selfheal apply` takes back
// unchanged. Secrets are references in the API and stay references here; the API never answers a value.
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { agentTaskQueue } from '../../contracts/names.js';
import { DEFAULT_TEAM } from '../../domain/teams.js';
import type { Io } from '../context.js';
import { usageError } from '../errors.js';
import { refuseLeavingWorkingFolder, refuseLinkedFolder, writeOwnFile } from '../files.js';
import { yamlText } from '../output.js';
import type { Kind } from './manifests.js';
import { environmentDefinitionOf, jobDefinitionOf, ruleDefinitionOf, type CurrentState } from './plan.js';

export interface ExportDocument {
  kind: Kind;
  key: string;
  body: Record<string, unknown>;
}

const isEmpty = (v: unknown) => v === null || v === undefined || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

/** Environments, then jobs, then rules (the order apply needs), each without the fields left at their default (`team: default` included). */
export function exportDocuments(state: CurrentState): ExportDocument[] {
  const docs: ExportDocument[] = [];
  for (const e of [...state.environments].sort((a, b) => a.name.localeCompare(b.name))) {
    const body = environmentDefinitionOf(e);
    for (const k of ['description', 'labels', 'ssh', 'maintenanceWindows']) if (isEmpty(body[k])) delete body[k];
    if (body.agentTaskQueue === agentTaskQueue(e.name)) delete body.agentTaskQueue;
    if (body.team === DEFAULT_TEAM) delete body.team;
    docs.push({ kind: 'Environment', key: e.name, body });
  }
  for (const j of [...state.jobs].sort((a, b) => a.id.localeCompare(b.id))) {
    const body = jobDefinitionOf(j);
    // A running job leaves `enabled` out, so pausing and resuming it by hand is not undone by the next apply.
    if (body.enabled === true) delete body.enabled;
    if (body.team === DEFAULT_TEAM) delete body.team;
    docs.push({ kind: 'Job', key: j.id, body });
  }
  for (const r of [...state.rules].sort((a, b) => a.name.localeCompare(b.name))) {
    const body = ruleDefinitionOf(r);
    if (body.team === DEFAULT_TEAM) delete body.team;
    docs.push({ kind: 'Rule', key: r.name, body });
  }
  return docs;
}

const asObject = (d: ExportDocument) => ({ kind: d.kind, ...d.body });
const yamlOf = (d: ExportDocument) => yamlText(asObject(d), { lineWidth: 0 });

/** All documents as one multi-document YAML text (or a JSON list). */
export function renderExport(docs: ExportDocument[], json: boolean): string {
  return json ? `${JSON.stringify(docs.map(asObject), null, 2)}\n` : docs.map(yamlOf).join('---\n');
}

const fileNameOf = (d: ExportDocument) => `${d.kind.toLowerCase()}-${d.key.replace(/[^A-Za-z0-9._-]/g, '-')}.yaml`;

/**
 * Writes the documents to `target`: one file when it ends in .yaml, .yml or .json, else a folder with one
 * `<kind>-<name>.yaml` per object. Answers the paths written.
 */
export function writeExport(docs: ExportDocument[], target: string, io: Io): string[] {
  // Neither a file nor a folder in the target's place is followed when it is a symbolic link, nor, for a
  // target named inside the working folder, a link on the way that leads out of it: checked before the
  // folder is made, since `mkdir -p` through such a link already creates folders where it leads (files.ts).
  refuseLinkedFolder(target);
  refuseLeavingWorkingFolder(target);
  const isDir = lstatSync(target, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const ext = path.extname(target).toLowerCase();
  if (!isDir && ['.yaml', '.yml', '.json'].includes(ext)) {
    writeOwnFile(target, renderExport(docs, ext === '.json'));
    return [target];
  }
  try {
    mkdirSync(target, { recursive: true });
  } catch (err) {
    throw usageError(`cannot create ${target}: ${(err as Error).message}`);
  }
  const written = docs.map((d) => {
    const file = path.join(target, fileNameOf(d));
    writeOwnFile(file, yamlOf(d));
    return file;
  });
  const mine = new Set(written.map((f) => path.basename(f)));
  const others = readdirSync(target).filter((f) => !mine.has(f) && !f.startsWith('.') && /\.(ya?ml|json)$/i.test(f));
  if (others.length > 0) io.err(`note: ${target} also holds ${others.length} file(s) this export did not write (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', ...' : ''}); apply reads them too`);
  return written;
}
