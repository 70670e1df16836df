// Bundles the dashboard's browser code (src/dashboard/client) with esbuild, in memory, once per process:
// the API serves the result as content-hashed static assets. Bundling at start (not at image build) keeps
// one way to run everywhere: `npm start`, the tests and the Docker image (which installs production
// dependencies, esbuild among them) all serve the source they hold, and no build step can go stale.
// A build takes well under a second and starts when the routes are built, before the first request.
//
// The bundle may only contain the client's own modules, src/contracts and the one vetted package below
// (uPlot, the backtest chart): `forbiddenInputs` refuses a bundle that pulled in a server module, a domain
// module's code (domain *types* are fine: they vanish) or any other package. The same rule is checked by
// `npm run lint` (.dependency-cruiser.cjs, the dashboard-client rules); this is the net.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type StdinOptions } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));

/** URL path under which the bundle's files are served. */
export const ASSET_PATH = '/ui/assets/';

/**
 * Where the bundle's inputs may come from, relative to the repository root. uPlot (MIT, no dependencies,
 * about 50 KB minified) draws the backtest's per-hour timeline on a canvas; it styles through the CSSOM
 * only, which the CSP allows.
 */
const ALLOWED_INPUTS = ['src/dashboard/client/', 'src/contracts/', 'node_modules/uplot/dist/'];

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface Asset {
  body: Uint8Array;
  contentType: string;
  /** Strong entity tag from the content. */
  etag: string;
}

export interface DashboardBundle {
  /** URL of the script and of the stylesheet (their names carry a content hash). */
  script: string;
  stylesheet: string;
  /** Every output by file name (script, stylesheet, their source maps). */
  assets: ReadonlyMap<string, Asset>;
  /** The source files bundled, relative to the repository root. */
  inputs: string[];
}

/** The inputs a dashboard bundle must not contain. */
export function forbiddenInputs(inputs: readonly string[]): string[] {
  return inputs.filter((i) => !ALLOWED_INPUTS.some((prefix) => i.startsWith(prefix)));
}

const etagOf = (body: Uint8Array) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;

/**
 * Builds the dashboard. `entry` replaces the script's entry point (tests use it to show that a forbidden
 * import is refused). Throws on an esbuild error or a forbidden input.
 */
export async function buildDashboard(options: { entry?: StdinOptions } = {}): Promise<DashboardBundle> {
  const css = { in: 'src/dashboard/client/app.css', out: 'app' };
  const result = await build({
    absWorkingDir: ROOT,
    ...(options.entry
      ? { stdin: { resolveDir: CLIENT_DIR, loader: 'ts', sourcefile: 'entry.ts', ...options.entry }, entryPoints: [css] }
      : { entryPoints: [{ in: 'src/dashboard/client/main.ts', out: 'app' }, css] }),
    entryNames: '[name].[hash]',
    tsconfig: 'src/dashboard/client/tsconfig.json',
    bundle: true,
    write: false, // in memory: `outdir` only names the output files
    outdir: 'dist/dashboard',
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
  });

  const inputs = Object.keys(result.metafile.inputs).filter((i) => i !== '<stdin>');
  const forbidden = forbiddenInputs(inputs);
  if (forbidden.length > 0) {
    throw new Error(`the dashboard bundle may only contain ${ALLOWED_INPUTS.join(' and ')} (domain modules as types only), but it pulled in: ${forbidden.join(', ')}`);
  }

  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    const ext = /\.(js|css|map)$/.exec(name)?.[0] ?? '';
    assets.set(name, { body: file.contents, contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream', etag: etagOf(file.contents) });
  }
  const named = (ext: string) => {
    const name = [...assets.keys()].find((n) => n.endsWith(ext));
    if (!name) throw new Error(`esbuild wrote no ${ext} file`);
    return `${ASSET_PATH}${name}`;
  };
  return { script: named('.js'), stylesheet: named('.css'), assets, inputs };
}

let cached: Promise<DashboardBundle> | undefined;

/** The dashboard bundle of this process, built on first use and then kept (the source does not change under a running server). */
export function dashboardBundle(): Promise<DashboardBundle> {
  cached ??= buildDashboard();
  return cached;
}
