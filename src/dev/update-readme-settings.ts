import { readFileSync, writeFileSync } from 'node:fs';
import { README_BEGIN, README_END, settingsMarkdown } from '../config/docs.js';

/** Rewrites the configuration table in README.md from the settings table. */
const path = new URL('../../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const start = readme.indexOf(README_BEGIN);
const end = readme.indexOf(README_END);
if (start < 0 || end < start) throw new Error('README.md lacks the settings markers');
writeFileSync(path, readme.slice(0, start + README_BEGIN.length) + '\n' + settingsMarkdown() + '\n' + readme.slice(end));
