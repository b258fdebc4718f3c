// Builds the AngularJS admin UI into public/build: every file gets a content
// hash in its name (so HAProxy and browsers may cache it for a year) and
// index.html points at the hashed names. Run with `npm run build` after `npm ci`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'public', 'build');
const sources = {
  'angular.min.js': join(root, 'node_modules', 'angular', 'angular.min.js'),
  'angular-csp.css': join(root, 'node_modules', 'angular', 'angular-csp.css'),
  'app.js': join(root, 'resources', 'frontend', 'app.js'),
  'app.css': join(root, 'resources', 'frontend', 'app.css'),
};

for (const [name, path] of Object.entries(sources)) {
  if (!existsSync(path)) {
    const hint = path.includes('node_modules')
      ? 'run "npm ci" in the application directory first'
      : 'restore it from git';
    console.error(`Cannot build the admin UI: ${name} is missing at "${path}": ${hint}`);
    process.exit(1);
  }
}

rmSync(output, { recursive: true, force: true });
mkdirSync(output, { recursive: true });

const manifest = {};
for (const [name, path] of Object.entries(sources)) {
  const content = readFileSync(path);
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  const dot = name.lastIndexOf('.');
  const hashed = `${name.slice(0, dot)}.${hash}${name.slice(dot)}`;
  writeFileSync(join(output, hashed), content);
  manifest[name] = hashed;
}

const template = readFileSync(join(root, 'resources', 'frontend', 'index.html'), 'utf8');
const page = template.replace(/\{\{asset:([^}]+)\}\}/g, (_match, name) => {
  if (!(name in manifest)) {
    console.error(
      `Cannot build the admin UI: index.html refers to "${name}", which is not one of ${Object.keys(manifest).join(', ')}`,
    );
    process.exit(1);
  }
  return `/build/${manifest[name]}`;
});
writeFileSync(join(output, 'index.html'), page);
writeFileSync(join(output, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

console.log(`Built the admin UI into public/build: ${Object.values(manifest).join(', ')}`);
