import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { services } from '../helpers/services.js';

describe('replay of recorded histories', () => {
  it('the hello history recorded from the stack replays against the current workflow code', async () => {
    const history = JSON.parse(readFileSync(new URL('../fixtures/histories/hello.json', import.meta.url), 'utf8'));
    expect(history.events.length).toBeGreaterThan(5);
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: services().workflowBundlePath } },
        history,
        'hello-recorded'
      )
    ).resolves.toBeUndefined();
  });
});
