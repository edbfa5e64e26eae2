import { importEmbeddingModel } from '../lib/embeddings/import.js';
import { registerEmbeddingModel, registerVectorIndex } from '../lib/embeddings/registry.js';
import type { VectorServices } from '../lib/embeddings/steps.js';
import type { ActivityDeps } from './deps.js';

/** The worker's side of the embedding and vector index steps: the Python export, and the registry writes. */
export function vectorServices(deps: Pick<ActivityDeps, 'db' | 'pythonEnvs' | 'logger'>): VectorServices {
  const by = (pipeline: string) => `pipeline:${pipeline}`;
  return {
    async importEmbeddingModel(ctx, spec) {
      const { manifest, ref } = await importEmbeddingModel(deps.pythonEnvs, ctx.store, spec);
      const { version, created } = await registerEmbeddingModel(
        deps.db,
        {
          name: spec.name,
          identity: manifest.identity,
          manifest: ref.digest,
          package: manifest.package,
          packageVersion: manifest.packageVersion,
          weightsDigest: manifest.weightsDigest,
          dimensions: manifest.dimensions,
          runId: ctx.runId,
        },
        by(ctx.pipeline.name)
      );
      deps.logger.info(
        { model: spec.name, version, created, identity: manifest.identity, checked: manifest.checked },
        'embedding model imported'
      );
      return { name: spec.name, version, identity: manifest.identity, dimensions: manifest.dimensions, manifest: ref };
    },
    registerVectorIndex: (ctx, name, manifest, ref) =>
      registerVectorIndex(
        deps.db,
        {
          name,
          manifest: ref.digest,
          digest: manifest.index.digest,
          embeddingModel: manifest.embeddingModel.name,
          embeddingVersion: manifest.embeddingModel.version,
          corpus: manifest.corpus.table.digest,
          metrics: {
            [`recall@${manifest.gate.k}`]: manifest.gate.recall,
            p50Ms: manifest.gate.p50Ms,
            p99Ms: manifest.gate.p99Ms,
          },
          passed: manifest.gate.passed,
          runId: ctx.runId,
        },
        by(ctx.pipeline.name)
      ),
  };
}
