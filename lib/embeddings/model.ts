import type { InferenceSession } from 'onnxruntime-node';
import type { ArtifactRef } from '../artifacts/index.js';
import { CairnError } from '../errors.js';
import { ort } from '../ml/onnx.js';
import { WordPieceTokenizer } from './tokenizer.js';

/** An embedding model that cannot be imported or used: its files, its probes, or its input. Not retryable. */
export class EmbeddingModelError extends CairnError {
  override readonly name = 'EmbeddingModelError';
  readonly type = 'EmbeddingModelError';
}

/** What identifies an embedding model: the Python package that ships it, its version, and its weights' digest. */
export interface EmbeddingModelIdentity {
  package: string;
  packageVersion: string;
  weightsDigest: string;
}

/**
 * An imported embedding model, as stored (canonical JSON, by digest): its identity, the ONNX graph and vocabulary it
 * runs with, and what made them.
 */
export interface EmbeddingModelManifest extends EmbeddingModelIdentity {
  kind: 'cairn.embedding-model/v1';
  /** sha256 of the canonical identity: the cache key of everything embedded with it. */
  identity: string;
  dimensions: number;
  maxTokens: number;
  onnx: ArtifactRef;
  vocab: ArtifactRef;
  /** The Python environment that exported the graph (lock digest, interpreter, torch). */
  exportedWith: { environment: string; python: string; torch: string };
  /** How many probe texts the tokenizer and the graph were checked on, and the largest difference seen. */
  checked: { probes: number; maxDifference: number };
}

/** A text and what the Python model makes of it (the export's manifest), to check ours against. */
export interface Probe {
  text: string;
  ids: number[];
  embedding: number[];
}

/** The largest difference from sentence-transformers an embedding may have (float32 arithmetic in another order). */
export const PROBE_TOLERANCE = 1e-4;

/**
 * Embeds texts with an imported model: Cairn's WordPiece tokenizer, then the ONNX graph (mean pooling and L2
 * normalisation included) in onnxruntime. Batches are padded to their longest text; the same texts in the same
 * batches give the same bytes. Query embeddings online use the same class with batches of one.
 */
export class TextEmbedder {
  private constructor(
    readonly dimensions: number,
    private readonly tokenizer: WordPieceTokenizer,
    private readonly session: InferenceSession
  ) {}

  static async load(
    files: { onnx: Uint8Array; vocab: string; dimensions: number; maxTokens: number },
    threads = 1
  ): Promise<TextEmbedder> {
    const { InferenceSession } = await ort();
    const session = await InferenceSession.create(files.onnx, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    }).catch((err: Error) => {
      throw new EmbeddingModelError(`the embedding model's ONNX graph does not load: ${err.message}`);
    });
    return new TextEmbedder(
      files.dimensions,
      new WordPieceTokenizer({ vocab: files.vocab, maxTokens: files.maxTokens }),
      session
    );
  }

  tokenize(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /** Row-major `texts.length × dimensions` unit vectors. */
  async embed(texts: readonly string[], batchSize = 32, onBatch?: (done: number) => void): Promise<Float32Array> {
    const { Tensor } = await ort();
    const out = new Float32Array(texts.length * this.dimensions);
    for (let start = 0; start < texts.length; start += batchSize) {
      const batch = texts.slice(start, start + batchSize).map((t) => this.tokenizer.encode(t));
      const width = Math.max(...batch.map((ids) => ids.length));
      const ids = new BigInt64Array(batch.length * width);
      const mask = new BigInt64Array(batch.length * width);
      batch.forEach((row, i) =>
        row.forEach((id, j) => {
          ids[i * width + j] = BigInt(id);
          mask[i * width + j] = 1n;
        })
      );
      const shape = [batch.length, width];
      const result = await this.session.run({
        input_ids: new Tensor('int64', ids, shape),
        attention_mask: new Tensor('int64', mask, shape),
      });
      out.set(result.embedding!.data as Float32Array, start * this.dimensions);
      onBatch?.(Math.min(start + batchSize, texts.length));
    }
    return out;
  }

  /**
   * Checks this tokenizer and graph against the Python model on its probes: the same token ids, and embeddings
   * within PROBE_TOLERANCE, each probe alone. Returns the largest difference; throws naming the first probe off.
   */
  async check(probes: readonly Probe[]): Promise<number> {
    let worst = 0;
    for (const [i, probe] of probes.entries()) {
      const ids = this.tokenize(probe.text);
      if (ids.join() !== probe.ids.join())
        throw new EmbeddingModelError(
          `probe ${i} (${JSON.stringify(probe.text.slice(0, 60))}): Cairn's tokenizer gives [${ids.slice(0, 20).join(', ')}…] where the model's own gives [${probe.ids.slice(0, 20).join(', ')}…]`
        );
      const ours = await this.embed([probe.text]);
      if (ours.length !== probe.embedding.length)
        throw new EmbeddingModelError(
          `probe ${i}: the graph gives ${ours.length} dimensions, the model ${probe.embedding.length}`
        );
      const difference = Math.max(...probe.embedding.map((v, j) => Math.abs(v - ours[j]!)));
      if (!(difference <= PROBE_TOLERANCE))
        throw new EmbeddingModelError(
          `probe ${i} (${JSON.stringify(probe.text.slice(0, 60))}): the ONNX embedding differs from sentence-transformers' by ${difference} (> ${PROBE_TOLERANCE})`
        );
      worst = Math.max(worst, difference);
    }
    return worst;
  }
}
