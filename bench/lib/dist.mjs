// Where the built project is: bench/out/snapshot/dist when the bench run made a
// snapshot (BENCH_DIST_DIR), so every process of one run uses the same build even
// if someone rebuilds dist/ meanwhile; else the project's dist/. The dev build
// (dist-dev/, `npm run build:dev`: the authorization server and the Envoy-shaped
// client of test/fixtures/) sits beside it.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const distDir = () => process.env.BENCH_DIST_DIR ?? join(ROOT, 'dist');

/** import() of a module under dist/, e.g. fromDist('ops/metrics.js'). */
export const fromDist = (path) => import(pathToFileURL(join(distDir(), path)).href);

/** dist-dev/ beside distDir(). */
export const devDistDir = () => join(distDir(), '..', 'dist-dev');

/** import() of a module under dist-dev/, e.g. fromDevDist('test/fixtures/envoy-client.js'). */
export const fromDevDist = (path) => import(pathToFileURL(join(devDistDir(), path)).href);

/** sha256 of every .js file under `dir` (names and contents), shortened: names a build. */
export function hashOfJs(dir) {
  const hash = createHash('sha256');
  const walk = (current) => {
    for (const name of readdirSync(current).sort()) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js')) hash.update(relative(dir, path)).update(readFileSync(path));
    }
  };
  walk(dir);
  return hash.digest('hex').slice(0, 12);
}
