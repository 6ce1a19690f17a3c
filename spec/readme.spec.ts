import { mkdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { completion, endpoints } from './support/etcd.js';

/**
 * Every ```ts block of the README compiles against the library as it is: a snippet that drifted
 * from the API fails here. (API signature listings are ```text.) Names a snippet uses without
 * declaring them (a client, a session, a signal) are declared with their types first.
 */
const root = fileURLToPath(new URL('../', import.meta.url));
const dir = join(root, 'spec', '.readme-snippets');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1]!);

/** What a snippet may use without declaring it. */
const given: Record<string, string> = {
  client: "import('etcd3').Etcd3",
  session: "import('etcd-concurrency').Session",
  signal: 'AbortSignal',
  settings: "import('etcd-concurrency').ConnectionSettings",
  election: "import('etcd-concurrency').Election",
};

function declared(snippet: string, name: string): boolean {
  return (
    new RegExp(`\\b(const|let|var|function|class)\\s+${name}\\b`).test(snippet) ||
    new RegExp(`import\\s*\\{[^}]*\\b${name}\\b[^}]*\\}`).test(snippet) ||
    new RegExp(`import\\s+${name}\\b`).test(snippet)
  );
}

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('README', () => {
  it(`its ${snippets.length} TypeScript snippets type-check against the library`, async () => {
    expect(snippets.length).toBeGreaterThan(3);
    await mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const [i, snippet] of snippets.entries()) {
      const prelude = Object.entries(given)
        .filter(([name, _]) => new RegExp(`\\b${name}\\b`).test(snippet) && !declared(snippet, name))
        .map(([name, type]) => `declare const ${name}: ${type};`);
      const file = join(dir, `snippet-${i}.ts`);
      await writeFile(file, `${snippet}\n${prelude.join('\n')}\nexport {};\n`);
      files.push(file);
    }
    const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
    const program = ts.createProgram(files, { ...config.options, noEmit: true, noUnusedLocals: false });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter(d => d.file && files.includes(d.file.fileName))
      .map(d => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        const index = files.indexOf(d.file!.fileName);
        return `snippet ${index + 1} line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}\n    ${snippets[index]!.split('\n')[line] ?? ''}`;
      });
    expect(problems, problems.join('\n')).toEqual([]);
  }, 60_000);

  it('its headline example runs as written, against a real cluster', async () => {
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'headline.ts');
    await writeFile(file, snippets[0]!);
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, ETCD_ENDPOINTS: endpoints().join(',') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { code, lines, stderr } = await completion(child);
    expect(code, stderr).toBe(0);
    expect(lines).toContainEqual(expect.stringMatching(/^recorded, fencing token \d+$/));
  }, 60_000);
});
