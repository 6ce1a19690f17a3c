// The package as users get it: `npm pack`, then the tarball installed in throwaway projects that
// import it the ways Node and TypeScript offer. Needs no etcd (vitest project "no-etcd"): it imports
// and checks the exports.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

interface Manifest {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  files?: string[];
}

let dir: string;
/** The installed package: `<dir>/node_modules/etcd-concurrency`. */
let installed: string;
/** Paths in the tarball, relative to the package root. */
let packed: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'etcd-concurrency-pack-'));
  // `npm pack` runs `prepare` (the build) first, as publishing does.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root });
  const [info] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  packed = info.files.map(f => f.path);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumers', private: true }));
  // Dependencies come from npm's cache when it has them (it does after `npm ci` here).
  await run(
    'npm',
    ['install', join(dir, info.filename), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'],
    { cwd: dir },
  );
  installed = join(dir, 'node_modules', 'etcd-concurrency');
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes `files` into a fresh consumer project `<dir>/<name>` (it finds the package in `<dir>/node_modules`). */
async function project(name: string, files: Record<string, string>): Promise<string> {
  const at = join(dir, name);
  await mkdir(at, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(at, file), text);
  return at;
}

/** Runs `node file` in `cwd`; resolves with stdout, and fails on a non-zero exit or anything on stderr (warnings too). */
async function node(cwd: string, file: string): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, [file], { cwd });
  expect(stderr).toBe('');
  return stdout.trim();
}

/** Type-checks and compiles the project in `cwd` with the repository's TypeScript. */
async function typecheck(cwd: string): Promise<void> {
  try {
    await run(process.execPath, [tsc, '-p', cwd], { cwd });
  } catch (error) {
    throw new Error(`tsc -p ${relative(dir, cwd)} failed: ${(error as { stdout?: string }).stdout ?? String(error)}`);
  }
}

const expected = 'function function 5';

/** TypeScript that only compiles if the package's types are real (not `any`), and prints {@link expected}. */
const tsUse = (importLine: string): string => `${importLine}
const options: SessionOptions = { ttl: 5 };
// @ts-expect-error -- the TTL is a number: proves the types resolved (with \`any\` this line would compile)
const wrong: SessionOptions = { ttl: 'five' };
void wrong;
console.log(typeof Mutex, typeof Session, options.ttl);
`;

/** compilerOptions every TypeScript consumer shares; @types/node from the repository. */
const compilerOptions = {
  target: 'ES2022',
  strict: true,
  skipLibCheck: true,
  outDir: 'out',
  types: ['node'],
  typeRoots: [join(root, 'node_modules', '@types')],
};

describe('the packed package', () => {
  it('contains the build, the licence, the changelog and the readme, and no TypeScript sources', () => {
    expect(packed).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts']));
    expect(packed.filter(f => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('has a bin that is in the package and starts with a shebang', async () => {
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    for (const bin of Object.values(manifest.bin)) {
      expect(packed).toContain(bin.replace(/^\.\//, ''));
      expect(await readFile(join(installed, bin), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    }
  });

  it('ships source maps that carry their sources (lib/ is not in the package)', async () => {
    const maps = packed.filter(f => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const file of maps) {
      const map = JSON.parse(await readFile(join(installed, file), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sourcesContent?.length, file).toBe(map.sources.length);
      expect(map.sourcesContent!.every(s => typeof s === 'string' && s.length > 0), file).toBe(true);
    }
  });

  it('has declaration files that import only node: modules, the package itself, and declared dependencies', async () => {
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Manifest;
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    const builtins = new Set(builtinModules);
    const undeclared: string[] = [];
    for (const file of packed.filter(f => f.endsWith('.d.ts'))) {
      const text = await readFile(join(installed, file), 'utf8');
      const specifiers = [
        ...text.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g),
        ...text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
        ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
        ...text.matchAll(/\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
        ...text.matchAll(/\/\/\/\s*<reference\s+types=['"]([^'"]+)['"]/g),
      ].map(m => m[1]!);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (name === 'etcd-concurrency' || declared.has(name)) continue;
        undeclared.push(`${file} imports ${specifier}`);
      }
    }
    expect(undeclared, 'packages the types import but package.json does not declare').toEqual([]);
  });
});

describe('consumers of the tarball', () => {
  it('CommonJS: require() loads the ES module build (Node ≥ 20.19)', async () => {
    const at = await project('cjs', {
      'package.json': JSON.stringify({ type: 'commonjs' }),
      'main.js': "const { Mutex, Session } = require('etcd-concurrency');\nconsole.log(typeof Mutex, typeof Session, 5);\n",
    });
    expect(await node(at, 'main.js')).toBe(expected);
  });

  it('ES module: import', async () => {
    const at = await project('esm', {
      'package.json': JSON.stringify({ type: 'module' }),
      'main.js': "import { Mutex, Session } from 'etcd-concurrency';\nconsole.log(typeof Mutex, typeof Session, 5);\n",
    });
    expect(await node(at, 'main.js')).toBe(expected);
  });

  it('require() and import share one copy of each class', async () => {
    const at = await project('both', {
      'package.json': JSON.stringify({ type: 'module' }),
      'main.js':
        "import { createRequire } from 'node:module';\nimport * as esm from 'etcd-concurrency';\n" +
        "const cjs = createRequire(import.meta.url)('etcd-concurrency');\n" +
        'console.log(cjs.Mutex === esm.Mutex && cjs.LockTimeoutError === esm.LockTimeoutError);\n',
    });
    expect(await node(at, 'main.js')).toBe('true');
  });

  it('TypeScript, module nodenext: an ES module (.mts) and a CommonJS file (.cts) type-check and run', async () => {
    const at = await project('ts-nodenext', {
      'package.json': JSON.stringify({ type: 'commonjs' }),
      'tsconfig.json': JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'nodenext', moduleResolution: 'nodenext' } }),
      'esm.mts': tsUse("import { Mutex, Session, type SessionOptions } from 'etcd-concurrency';"),
      'cjs.cts': tsUse("import { Mutex, Session, type SessionOptions } from 'etcd-concurrency';"),
    });
    await typecheck(at);
    expect(await node(at, 'out/esm.mjs')).toBe(expected);
    expect(await readFile(join(at, 'out/cjs.cjs'), 'utf8')).toMatch(/require\("etcd-concurrency"\)/);
    expect(await node(at, 'out/cjs.cjs')).toBe(expected);
  });

  it('TypeScript, moduleResolution bundler: type-checks, and the output runs', async () => {
    const at = await project('ts-bundler', {
      'package.json': JSON.stringify({ type: 'module' }),
      'tsconfig.json': JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'esnext', moduleResolution: 'bundler' } }),
      'main.ts': tsUse("import { Mutex, Session, type SessionOptions } from 'etcd-concurrency';"),
    });
    await typecheck(at);
    expect(await node(at, 'out/main.js')).toBe(expected);
  });

  it('TypeScript, module commonjs (node10 resolution): type-checks, and the require() it emits runs', async () => {
    const at = await project('ts-commonjs', {
      'package.json': JSON.stringify({ type: 'commonjs' }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: { ...compilerOptions, module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '5.0' },
      }),
      'main.ts': tsUse("import { Mutex, Session, type SessionOptions } from 'etcd-concurrency';"),
    });
    await typecheck(at);
    expect(await node(at, 'out/main.js')).toBe(expected);
  });
});
