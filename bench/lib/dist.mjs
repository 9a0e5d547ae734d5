// Where the built project is: bench/out/snapshot/dist when the bench run made a
// snapshot (BENCH_DIST_DIR), so every process of one run uses the same build even
// if someone rebuilds dist/ meanwhile; else the project's dist/.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const distDir = () => process.env.BENCH_DIST_DIR ?? join(ROOT, 'dist');

/** import() of a module under dist/, e.g. fromDist('dev/envoy-client.js'). */
export const fromDist = (path) => import(pathToFileURL(join(distDir(), path)).href);

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
