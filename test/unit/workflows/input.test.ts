import { describe, expect, it } from 'vitest';
import { trainingPipelineInput } from '../../../workflows/training-pipeline.js';

const ref = (d: string) => ({ digest: d, bytes: 10, uri: `s3://cairn/${d}` });
const good = `sha256:${'a'.repeat(64)}`;

describe('workflow inputs', () => {
  it('refuse a malformed digest in a recorded snapshot, naming the field, instead of failing an activity later', () => {
    const dataset = { digest: good, rowCount: 3, schemaDigest: good, data: ref(good), manifest: ref(good) };
    expect(trainingPipelineInput.safeParse({ pipeline: 'penguins', dataset }).success).toBe(true);
    const bad = trainingPipelineInput.safeParse({
      pipeline: 'penguins',
      dataset: { ...dataset, data: ref('sha256:../../etc/passwd') },
    });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'dataset.data.digest: expected a digest, sha256:<64 hex digits>',
    ]);
  });
});
