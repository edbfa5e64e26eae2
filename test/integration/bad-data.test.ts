import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { getRun } from '../../lib/tracking/queries.js';
import type { Violation } from '../../lib/validate/report.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import type { TrainingPipelineInput } from '../../workflows/training-pipeline.js';

import { activityEvents, useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

const dir = mkdtempSync(join(tmpdir(), 'cairn-bad-data-'));
type Penguin = Record<string, unknown>;
const penguins = (): Penguin[] =>
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8'));

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function toCsv(rows: Penguin[]): string {
  const keys = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return [keys.map((k) => `"${k}"`).join(','), ...rows.map((r) => keys.map((k) => cell(r[k])).join(','))].join('\n');
}

interface Failure {
  runId: string;
  type: string;
  message: string;
  nonRetryable: boolean;
  details: unknown[];
  events: Awaited<ReturnType<typeof activityEvents>>;
}

/** Runs the pipeline on a bad file and returns how it failed and what the history says ran. */
async function failOn(input: TrainingPipelineInput): Promise<Failure> {
  return withWorker(deps, async (taskQueue) => {
    const handle = await ctx.client.workflow.start(trainingPipeline, {
      taskQueue,
      workflowId: `bad-${randomUUID()}`,
      args: [input],
    });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause as {
      type: string;
      message: string;
      nonRetryable: boolean;
      details: unknown[];
    };
    return {
      runId: handle.workflowId,
      type: cause.type,
      message: cause.message,
      nonRetryable: cause.nonRetryable,
      details: cause.details ?? [],
      events: await activityEvents(handle),
    };
  });
}

/**
 * Failed once, in `stage`, was not retried, and nothing after it ran but closing the run record: no model was
 * packaged, and the run ended `failed` with its error.
 */
async function expectFailedOnceIn(failure: Failure, stage: string): Promise<void> {
  expect(failure.nonRetryable).toBe(true);
  expect(failure.events.attempts[stage]).toEqual([1]);
  expect(failure.events.scheduled.slice(-2)).toEqual([stage, 'finishRun']);
  expect(failure.events.scheduled).not.toContain('packageModel');
  const run = await getRun(deps.db, failure.runId);
  expect(run?.status).toBe('failed');
  expect(run?.error).toBe(failure.message);
  expect(run?.stages.find((s) => s.stage === stage)).toMatchObject({ status: 'failed', attempt: 1 });
}

function violation(failure: Failure, column: string, rule: Violation['rule']): Violation {
  expect(failure.type).toBe('DataContractViolation');
  const { violations } = failure.details[0] as { violations: Violation[] };
  const found = violations.find((v) => v.column === column && v.rule === rule);
  expect(found, `no ${rule} violation on ${column} in ${JSON.stringify(violations)}`).toBeDefined();
  return found!;
}

describe('bad data fails the run once, non-retryably, with a report, and packages nothing', () => {
  it('a wrong column type names the column, the rule, the count and the rows', async () => {
    const rows = penguins();
    rows[5]!['Body Mass (g)'] = 'heavy';
    rows[9]!['Body Mass (g)'] = 'n/a';
    const failure = await failOn({ pipeline: 'penguins', config: { source: file('type.json', JSON.stringify(rows)) } });
    await expectFailedOnceIn(failure, 'validate');
    const v = violation(failure, 'Body Mass (g)', 'type');
    expect(v.count).toBe(2);
    expect(v.examples).toEqual([
      { row: 5, value: 'heavy' },
      { row: 9, value: 'n/a' },
    ]);
    expect(failure.message).toContain(
      'Body Mass (g) [type] 2 row(s): expected number, found string (e.g. row 5: "heavy", row 9: "n/a")'
    );
  });

  it('a missing required column', async () => {
    const rows = penguins().map(({ Island: _island, ...rest }) => rest);
    const failure = await failOn({
      pipeline: 'penguins',
      config: { source: file('missing.json', JSON.stringify(rows)) },
    });
    await expectFailedOnceIn(failure, 'validate');
    const v = violation(failure, 'Island', 'required-column');
    expect(v.count).toBe(344);
    expect(failure.message).toContain('column Island is missing');
  });

  it('NaN and Infinity in a numeric column', async () => {
    const rows = penguins();
    rows[2]!['Beak Length (mm)'] = 'NaN';
    rows[7]!['Beak Length (mm)'] = 'Infinity';
    const failure = await failOn({ pipeline: 'penguins', config: { source: file('nan.csv', toCsv(rows)) } });
    await expectFailedOnceIn(failure, 'validate');
    const v = violation(failure, 'Beak Length (mm)', 'finite');
    expect(v.count).toBe(2);
    expect(v.examples).toEqual([
      { row: 2, value: 'NaN' },
      { row: 7, value: 'Infinity' },
    ]);
  });

  it('an unseen category where none are allowed', async () => {
    const rows = penguins();
    rows[11]!.Island = 'Atlantis';
    const failure = await failOn({
      pipeline: 'penguins',
      config: { source: file('category.json', JSON.stringify(rows)) },
    });
    await expectFailedOnceIn(failure, 'validate');
    const v = violation(failure, 'Island', 'allowed-values');
    expect(v.count).toBe(1);
    expect(v.examples).toEqual([{ row: 11, value: 'Atlantis' }]);
    expect(v.message).toContain('Atlantis');
  });

  it('an empty file', async () => {
    const failure = await failOn({ pipeline: 'penguins', config: { source: file('empty.json', '') } });
    await expectFailedOnceIn(failure, 'ingest');
    expect(failure.type).toBe('DataReadError');
    expect(failure.message).toContain('empty.json');
  });

  it('a truncated Parquet file', async () => {
    const whole = readFileSync(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'));
    const path = file('truncated.parquet', whole.subarray(0, Math.floor(whole.length / 2)));
    const failure = await failOn({ pipeline: 'flight-delays', config: { source: path, rows: 10_000 } });
    await expectFailedOnceIn(failure, 'ingest');
    expect(failure.type).toBe('DataReadError');
    expect(failure.message).toContain('truncated.parquet');
  });
});
