import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LocalArtifactStore } from '../../../lib/artifacts/local-store.js';
import { canonicalJson } from '../../../lib/ml/canonical-json.js';
import { BUNDLE_FORMAT, bundleProject, materializeBundle, storeBundle } from '../../../lib/pipeline/bundle.js';
import { loadProject, ProjectLoadError } from '../../../lib/pipeline/project.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const temp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

function writeProject(dir: string) {
  mkdirSync(join(dir, 'pipelines'));
  mkdirSync(join(dir, 'node_modules', 'left-pad'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'left-pad', 'index.js'), 'module.exports = 1;');
  // What `npm install` makes of a `cairn: file:<repo>` dependency.
  symlinkSync(ROOT, join(dir, 'node_modules', 'cairn'));
  writeFileSync(
    join(dir, 'pipelines', 'echo.ts'),
    `import { defineStep, definePipeline, z } from 'cairn';
export const echo = defineStep({ name: 'echo', version: '1', input: z.object({ x: z.number() }), output: z.object({ x: z.number() }), run: (_, i) => i });
export const echoes = definePipeline({ name: 'echoes', version: '1', steps: (p) => ({ x: p.step(echo, { x: 1 }).out.x }) });
`
  );
  writeFileSync(
    join(dir, 'cairn.config.ts'),
    `import { defineProject } from 'cairn';\nimport { echoes } from './pipelines/echo.js';\nexport default defineProject({ pipelines: [echoes] });\n`
  );
}

describe('project bundles', () => {
  it('bundle the code by relative path, leaving out installed packages, with a digest that depends only on the files', () => {
    const a = temp('cairn-bundle-a-');
    const b = temp('cairn-bundle-b-');
    writeProject(a);
    writeProject(b);
    const bundle = bundleProject(a);
    expect(bundle.files).toBe(2);
    expect(bundleProject(b).digest).toBe(bundle.digest);
    const doc = JSON.parse(bundle.bytes.toString('utf8')) as { format: string; files: Record<string, string> };
    expect(doc.format).toBe(BUNDLE_FORMAT);
    expect(Object.keys(doc.files).sort()).toEqual(['cairn.config.ts', 'pipelines/echo.ts']);

    writeFileSync(join(b, 'pipelines', 'echo.ts'), '// edited\n', { flag: 'a' });
    expect(bundleProject(b).digest).not.toBe(bundle.digest);
  });

  it('come back from the store as a project that loads and runs the same code', async () => {
    const dir = temp('cairn-bundle-src-');
    writeProject(dir);
    const store = new LocalArtifactStore(temp('cairn-bundle-store-'));
    const loaded = await loadProject(dir);
    const ref = await storeBundle(store, loaded.bundle!);
    expect(ref.digest).toBe(loaded.bundle!.digest);

    const home = temp('cairn-bundle-home-');
    const restored = await materializeBundle(store, ref.digest, home);
    expect(readFileSync(join(restored, 'pipelines', 'echo.ts'), 'utf8')).toBe(
      readFileSync(join(dir, 'pipelines', 'echo.ts'), 'utf8')
    );
    const project = await loadProject(restored);
    expect([...project.pipelines.keys()]).toEqual(['echoes']);
    expect(project.bundle!.digest).toBe(ref.digest);
    // A second call reuses the complete directory.
    expect(await materializeBundle(store, ref.digest, home)).toBe(restored);
  });

  it('refuses an object that is not a bundle, and paths that leave the bundle', async () => {
    const store = new LocalArtifactStore(temp('cairn-bundle-store-'));
    const home = temp('cairn-bundle-home-');
    const json = await store.putBytes(canonicalJson({ hello: 1 }));
    await expect(materializeBundle(store, json.digest, home)).rejects.toThrow(ProjectLoadError);
    const evil = await store.putBytes(
      canonicalJson({ format: BUNDLE_FORMAT, files: { '../escaped.ts': Buffer.from('x').toString('base64') } })
    );
    await expect(materializeBundle(store, evil.digest, home)).rejects.toThrow(/leaves the bundle/);
  });
});
