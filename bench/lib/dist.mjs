// Where the built project is: bench/out/snapshot/dist when the bench run made a
// snapshot (BENCH_DIST_DIR), so every process of one run uses the same build even
// if someone rebuilds dist/ meanwhile; else the project's dist/.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const distDir = () => process.env.BENCH_DIST_DIR ?? join(ROOT, 'dist');

/** import() of a module under dist/, e.g. fromDist('dev/envoy-client.js'). */
export const fromDist = (path) => import(pathToFileURL(join(distDir(), path)).href);
