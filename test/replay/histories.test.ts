import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { services } from '../helpers/services.js';

// Histories recorded from the stack with `temporal workflow show -w <id> --output json`. Each must replay against
// the current workflow code: a change that would break running workflows fails here (guard it with patched()).
const DIR = new URL('../fixtures/histories/', import.meta.url);
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json'));
// Workflows that derive child workflow ids from their own id replay under the id they were recorded with.
const WORKFLOW_IDS: Record<string, string> = {
  'lifecycle.json': 'lifecycle-flight-delays-mwx6tyiq',
  'retrain-model.json': 'retrain-flight-delays',
};

describe('replay of recorded histories', () => {
  it('has the recorded histories', () => {
    expect(FILES).toEqual(
      expect.arrayContaining([
        'hello.json',
        'training-pipeline-penguins.json',
        'training-pipeline-bad-data.json',
        'training-pipeline-registered.json',
        'release-model-direct.json',
        'release-model-canary-rolled-back.json',
        'lifecycle.json',
        'retrain-model.json',
        'monitor-model.json',
        'batch-inference.json',
      ])
    );
  });

  it.each(FILES)('%s replays against the current workflow code', async (file) => {
    const history = JSON.parse(readFileSync(new URL(file, DIR), 'utf8'));
    expect(history.events.length).toBeGreaterThan(5);
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: services().workflowBundlePath } },
        history,
        WORKFLOW_IDS[file] ?? file
      )
    ).resolves.toBeUndefined();
  });
});
