import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { README_BEGIN, README_END, settingsMarkdown } from '../../src/config/docs.js';
import { ALL_SETTINGS } from '../../src/config/settings.js';

t.test('README configuration section is the settings table', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  t.ok(start >= 0 && end > start, 'README has the settings markers');
  t.equal(readme.slice(start + README_BEGIN.length, end).trim(), settingsMarkdown(), 'run `npm run docs:config` after changing src/config/settings.ts');
});

// The SPEC lives beside the repository (../shared), not in it: checked wherever it is checked out.
const SPEC = new URL('../../../shared/SPEC.md', import.meta.url);

t.test('every SPEC §2 name is a setting', { skip: existsSync(SPEC) ? false : '../shared/SPEC.md is not checked out beside the repository' }, async (t) => {
  const names = new Set(ALL_SETTINGS.flatMap(([, table]) => Object.values(table).map((spec) => spec.env)));
  const spec = readFileSync(SPEC, 'utf8');
  const section = spec.slice(spec.indexOf('## 2.'), spec.indexOf('## 3.'));
  const documented = [...section.matchAll(/^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?/gm)].flatMap((m) => [m[1], m[2]]).filter(Boolean) as string[];
  t.ok(documented.length >= 25, `found ${documented.length} names in SPEC §2`);
  for (const name of documented) t.ok(names.has(name), `${name} is read`);
});
