// One direction of imports (STYLE.md "Layers: who may import whom"): every
// relative import in src/ is read with the TypeScript pre-processor and must
// point to the same layer or one below it; the transports never import each
// other. A new folder or top-level module must be given a row here.
import t from 'tap';
import ts from 'typescript';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Top to bottom: a module may import its own layer and any layer below. */
const LAYERS: ReadonlyArray<{ readonly layer: string; readonly members: readonly string[]; readonly siblingsIndependent?: true }> = [
  { layer: 'entry points', members: ['src/main.ts', 'src/cli.ts'] },
  { layer: 'wiring', members: ['src/app.ts', 'src/core.ts', 'src/reload.ts'] },
  { layer: 'transports', members: ['src/grpc/', 'src/http-authz/'], siblingsIndependent: true },
  { layer: 'decision pipeline', members: ['src/check/'] },
  { layer: 'identity and exchange', members: ['src/validation/', 'src/exchange/'] },
  { layer: 'operations (metrics, tracing, readiness, ops HTTP)', members: ['src/ops/'] },
  { layer: 'OAuth wire', members: ['src/oauth/'] },
  { layer: 'request model', members: ['src/request/'] },
  {
    layer: 'foundation',
    members: ['src/config/', 'src/net/', 'src/errors.ts', 'src/log.ts', 'src/clock.ts', 'src/ttl-cache.ts', 'src/retry.ts', 'src/build-info.ts'],
  },
];

interface Place {
  readonly rank: number;
  readonly member: string;
}

/** The layer of a path relative to the repository (longest matching member wins); undefined when no row names it. */
export function placeOf(path: string): Place | undefined {
  let found: Place | undefined;
  LAYERS.forEach(({ members }, rank) => {
    for (const member of members) {
      const matches = member.endsWith('/') ? path.startsWith(member) : path === member;
      if (matches && (!found || member.length > found.member.length)) found = { rank, member };
    }
  });
  return found;
}

/** Why `from` must not import `to`, or undefined when it may. */
export function violation(from: string, to: string): string | undefined {
  const a = placeOf(from);
  const b = placeOf(to);
  if (!a || !b) return undefined;
  if (b.rank < a.rank) return `${from} (${LAYERS[a.rank]!.layer}) imports ${to} (${LAYERS[b.rank]!.layer}), a layer above it`;
  if (b.rank === a.rank && a.member !== b.member && LAYERS[a.rank]!.siblingsIndependent) return `${from} imports ${to}: ${LAYERS[a.rank]!.layer} never import each other`;
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of one module (static, type-only, re-exports and dynamic), as repository paths of .ts files. */
function importsOf(path: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, path), 'utf8'), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => relative(ROOT, resolve(ROOT, dirname(path), name)).replace(/\.js$/, '.ts'));
}

t.test('the checker itself: up, down, sideways', async (t) => {
  t.match(violation('src/check/response.ts', 'src/grpc/codec.ts'), /a layer above it/, 'the pipeline importing a transport');
  t.match(violation('src/exchange/actor.ts', 'src/check/request.ts'), /a layer above it/, 'exchange importing the pipeline');
  t.match(violation('src/oauth/discovery.ts', 'src/ops/tracing.ts'), /a layer above it/);
  t.match(violation('src/http-authz/server.ts', 'src/grpc/check-handler.ts'), /never import each other/, 'the HTTP mode importing gRPC');
  t.equal(violation('src/grpc/check-handler.ts', 'src/check/pipeline.ts'), undefined, 'a transport importing the pipeline');
  t.equal(violation('src/exchange/cache.ts', 'src/validation/principal.ts'), undefined, 'one layer');
  t.equal(violation('src/check/pipeline.ts', 'src/request/view.ts'), undefined, 'downward');
});

t.test('every module of src/ has a layer', async (t) => {
  const unplaced = sourceFiles('src').filter((path) => placeOf(path) === undefined);
  t.strictSame(unplaced, [], 'give each a row in LAYERS');
});

t.test('no import in src/ runs up the layers', async (t) => {
  const files = sourceFiles('src');
  t.ok(files.length > 50, `read ${files.length} modules`);
  const problems: string[] = [];
  let edges = 0;
  for (const from of files) {
    for (const to of importsOf(from)) {
      edges += 1;
      const problem = violation(from, to);
      if (problem) problems.push(problem);
    }
  }
  t.ok(edges > 100, `read ${edges} imports`);
  t.strictSame(problems, []);
});
