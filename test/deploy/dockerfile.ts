// The Dockerfile builds with dev dependencies and ships a runtime stage with
// production dependencies, dist/ (src/ only: no dev tools; no source maps) and protos/
// only, as a non-root user, with OCI labels, every port EXPOSEd, a health check
// and exactly `npm start` as its command. Each property is also
// shown to be detected when a copy of the Dockerfile breaks it.
import t from 'tap';
import { dockerfileProblems, dockerIgnored, parseDockerfile, pruneAfterBuild, type DockerfileContext } from './fixtures/dockerfile.js';
import { numericDefault, readRepoFile, repoFileExists } from './fixtures/repo.js';

const dockerfile = readRepoFile('Dockerfile');
/** The image's command as the Dockerfile writes it: `npm start`'s, node flags included. */
const SHIPPED_CMD = `CMD ${JSON.stringify(JSON.parse(readRepoFile('package.json')).scripts.start.split(' ')).replaceAll(',', ', ')}`;
const context: DockerfileContext = {
  packageJson: JSON.parse(readRepoFile('package.json')),
  tsconfig: JSON.parse(readRepoFile('tsconfig.json')),
  dockerignore: readRepoFile('.dockerignore').split('\n'),
  exists: (path) => repoFileExists(path),
  grpcPort: await numericDefault('GRPC_PORT'),
  httpPort: await numericDefault('HTTP_PORT'),
  // The port the example proxies call the HTTP authorization listener on.
  authzHttpPort: Number(/address: token-exchange-authz, port_value: (\d+)/.exec(readRepoFile('envoy/http-service/envoy-http-authz.yaml'))![1]),
};

t.test('the parser reads stages, flags, JSON form and continuations', async (t) => {
  const stages = parseDockerfile('# c\nFROM a:1 AS one\nRUN echo \\\n  # inner comment\n  two\nFROM b:2\nCOPY --from=one --chown=1:1 /x ./y\nCMD ["node", "m.js"]\n');
  t.same(stages.map((s) => [s.base, s.name]), [['a:1', 'one'], ['b:2', undefined]]);
  t.equal(stages[0]!.instructions[0]!.rest.replace(/\s+/g, ' ').trim(), 'echo two', 'continuation joined, comment inside dropped');
  t.same(stages[1]!.instructions[0]!.flags, { from: 'one', chown: '1:1' });
  t.same(stages[1]!.instructions[1]!.json, ['node', 'm.js']);
});

t.test('.dockerignore matching follows Docker: directories cover contents, ! re-includes, last match wins', async (t) => {
  t.ok(dockerIgnored(['node_modules'], 'node_modules/x/y.js'));
  t.ok(dockerIgnored(['*.md'], 'README.md'));
  t.notOk(dockerIgnored(['*.md'], 'protos/README.md'), '* does not cross /');
  t.ok(dockerIgnored(['**/*.md'], 'protos/README.md'));
  t.notOk(dockerIgnored(['docs', '!docs/keep.md'], 'docs/keep.md'));
  t.notOk(dockerIgnored(['dist'], 'distribution'));
});

t.test('the Dockerfile has every required property', async (t) => {
  t.same(dockerfileProblems(dockerfile, context), []);
  const stages = parseDockerfile(dockerfile);
  t.ok(stages.length >= 2, 'multi-stage');
  t.same(stages.at(-1)!.instructions.find((i) => i.keyword === 'CMD')!.json, context.packageJson.scripts!.start!.split(' '), 'CMD is npm start');
  t.ok(dockerfile.includes(SHIPPED_CMD), 'written as the broken copies below expect');
  t.ok(context.packageJson.scripts!.start!.split(' ').includes('--max-semi-space-size=4'), 'with the young-generation bound the README\'s memory figures assume');
  t.match(stages.at(-1)!.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.rest).join('\n'), /^MALLOC_ARENA_MAX=2$/m, 'and the malloc arena bound');
});

t.test('each broken copy is rejected', async (t) => {
  const replace = (from: string | RegExp, to: string): string => {
    const out = dockerfile.replace(from, to);
    if (out === dockerfile) throw new Error(`test setup: ${from} not found in the Dockerfile`);
    return out;
  };
  const runtimeStart = dockerfile.indexOf('FROM node', dockerfile.indexOf('AS build') + 1);
  const cases: Array<[string, string, RegExp]> = [
    ['single stage', dockerfile.slice(runtimeStart), /not multi-stage/],
    ['an unpinned base', replace(/node:20\.20\.2-bookworm-slim AS runtime/, 'node:20-slim AS runtime'), /not a pinned node/],
    ['a base below engines.node', dockerfile.replace(/node:20\.20\.2-bookworm-slim/g, 'node:20.10.0-bookworm-slim'), /does not satisfy engines\.node/],
    ['npm install instead of npm ci', replace('RUN npm ci --no-audit --no-fund\n', 'RUN npm install\n'), /runs npm install/],
    ['dev dependencies in the runtime stage', replace('npm ci --omit=dev', 'npm ci'), /installs dev dependencies/],
    ['no NODE_ENV=production', replace('ENV NODE_ENV=production\n', ''), /NODE_ENV=production is not set/],
    ['source copied into the runtime', replace('COPY protos ./protos', 'COPY protos ./protos\nCOPY src ./src'), /runtime: copies src/],
    ['node_modules of the build stage copied', replace('COPY --from=build /app/dist ./dist', 'COPY --from=build /app/dist ./dist\nCOPY --from=build /app/node_modules ./node_modules'), /is not the build output|copies node_modules/],
    ['a file that is not in the repository', replace('COPY tsconfig.json ./', 'COPY tsconfig.build.json ./'), /tsconfig\.build\.json: no such file/],
    ['a --from stage that does not exist', replace('--from=build', '--from=builder'), /no such stage/],
    ['no USER', replace(/^USER .*\n/m, ''), /no USER/],
    ['USER root', replace(/^USER .*$/m, 'USER root'), /USER root is root or not numeric/],
    ['USER 0', replace(/^USER .*$/m, 'USER 0'), /USER 0 is root/],
    ['no HEALTHCHECK', replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, ''), /no HEALTHCHECK/],
    ['HEALTHCHECK with curl', replace(/CMD \["node", "-e", .*\]$/m, 'CMD ["curl", "-f", "http://127.0.0.1:9002/healthz"]'), /does not use node/],
    ['HEALTHCHECK on the wrong path', replace("'/healthz'", "'/health'"), /does not call \/healthz/],
    ['a port not exposed', replace('EXPOSE 9001 9002 9003', 'EXPOSE 9001 9003'), /port 9002 is not EXPOSEd/],
    ['the HTTP authorization port not exposed', replace('EXPOSE 9001 9002 9003', 'EXPOSE 9001 9002'), /port 9003 is not EXPOSEd/],
    ['the dev tools shipped', replace('RUN npm run build &&', 'RUN npm run build:dev &&'), /compiles the dev tools .* would be shipped/],
    ['source maps shipped', replace(" && find dist -name '*.map' -delete", ''), /source maps are shipped/],
    ['no version label', replace(/^ +org\.opencontainers\.image\.version=.*\n/m, ''), /no LABEL org\.opencontainers\.image\.version/],
    ['a version label package.json does not have', replace('image.version="0.1.0"', 'image.version="9.9.9"'), /image\.version=9\.9\.9 does not match package\.json/],
    ['no licenses label', replace(/^ +org\.opencontainers\.image\.licenses=.*\n/m, ''), /no LABEL org\.opencontainers\.image\.licenses/],
    ['no source label', replace(' \\\n      org.opencontainers.image.source="${IMAGE_SOURCE}"', ''), /no LABEL org\.opencontainers\.image\.source/],
    ['CMD not npm start', replace(SHIPPED_CMD, 'CMD ["node", "dist-dev/test/fixtures/dev-tools/demo.js"]'), /is not `npm start`/],
    ['CMD in shell form', replace(SHIPPED_CMD, 'CMD node dist/main.js'), /not in exec \(JSON\) form/],
    ['npm as the entrypoint', replace(SHIPPED_CMD, 'ENTRYPOINT ["npm"]\n' + SHIPPED_CMD), /ENTRYPOINT set/],
  ];
  for (const [name, text, pattern] of cases) t.match(dockerfileProblems(text, context).join('\n'), pattern, name);

  const ignoring = (lines: string[]): DockerfileContext => ({ ...context, dockerignore: lines });
  t.match(dockerfileProblems(dockerfile, ignoring([...context.dockerignore, 'src'])).join('\n'), /COPY src: excluded by \.dockerignore/, '.dockerignore excluding a copied path');
  t.match(dockerfileProblems(dockerfile, ignoring(context.dockerignore.filter((l) => l !== 'node_modules'))).join('\n'), /does not exclude node_modules/, '.dockerignore letting node_modules in');
  t.match(dockerfileProblems(dockerfile, ignoring(context.dockerignore.filter((l) => l !== 'deploy'))).join('\n'), /does not exclude deploy\/keycloak\/mcp-gateway-client-secret/, '.dockerignore letting the demo secret in');
  t.match(dockerfileProblems(dockerfile, { ...context, tsconfig: { ...context.tsconfig, include: ['src/**/*.ts', 'test/fixtures/**/*.ts'] } }).join('\n'), /tsconfig\.json compiles test\/fixtures\/\*\*\/\*\.ts .* dev tools would be shipped/, 'tsconfig.json compiling the dev tools');
  t.match(dockerfileProblems(dockerfile, { ...context, packageJson: { ...context.packageJson, scripts: { start: 'node dist/server.js' } } }).join('\n'), /is not `npm start`[\s\S]*no src\/\*\.ts compiles to/, 'npm start pointing elsewhere');
});

t.test('the build stage\'s prune, run on the real build output, leaves a service that still starts', async (t) => {
  const { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { repoPath } = await import('./fixtures/repo.js');
  const prune = pruneAfterBuild(dockerfile);
  if (prune === undefined) return t.fail('no prune after npm run build');
  // /app of the runtime image: package.json, protos/, dist/ as the build stage leaves it, production node_modules.
  const app = mkdtempSync(join(tmpdir(), 'authz-image-'));
  t.teardown(() => rmSync(app, { recursive: true, force: true }));
  for (const name of ['package.json', 'protos', 'dist']) cpSync(repoPath(name), join(app, name), { recursive: true });
  symlinkSync(repoPath('node_modules'), join(app, 'node_modules'));
  // The image installs production dependencies only: no module of the build output may import a dev one.
  const devDependencies = Object.keys((JSON.parse(readRepoFile('package.json')) as { devDependencies: Record<string, string> }).devDependencies);
  const importsDev = (file: string) => {
    const text = readFileSync(join(app, 'dist', file), 'utf8');
    return devDependencies.some((name) => text.includes(`'${name}'`) || text.includes(`'${name}/`));
  };
  t.same(readdirSync(join(app, 'dist'), { recursive: true }).map(String).filter((file) => file.endsWith('.js') && importsDev(file)), [], 'the build output imports no dev dependency');
  const pruned = spawnSync('sh', ['-c', prune], { cwd: app, encoding: 'utf8' });
  t.equal(pruned.status, 0, `the prune runs: ${pruned.stderr}`);

  const files = readdirSync(join(app, 'dist'), { recursive: true }).map(String);
  t.notOk(existsSync(join(app, 'dist/dev')), 'no dist/dev');
  t.same(files.filter((file) => file.endsWith('.map')), [], 'no source maps');
  t.ok(files.includes('main.js'));

  const version = spawnSync(process.execPath, ['dist/main.js', '--version'], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.equal(version.status, 0, `--version: ${version.stderr}`);
  const check = spawnSync(process.execPath, ['dist/main.js', '--check-config'], {
    cwd: app,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, MCP_RESOURCE_URL: 'https://mcp.example.com/mcp', AUTHORIZATION_SERVER_URL: 'https://as.example.com', CLIENT_ID: 'gateway', CLIENT_SECRET: 'x' },
  });
  t.equal(check.stdout, 'configuration OK\n', `nothing the service loads lives in dist/dev: ${check.stderr}`);
});
