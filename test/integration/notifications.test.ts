import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import type { Activities, ActivityDeps } from '../../activities/index.js';
import { NOTIFICATION_EVENTS } from '../../lib/notifications/events.js';
import type { NotificationEventType } from '../../lib/notifications/events.js';
import type { WebhookBody } from '../../lib/notifications/message.js';
import { verifyWebhook } from '../../lib/notifications/signature.js';
import { approveSignal, rejectSignal, statusQuery } from '../../workflows/messages.js';
import { monitorModel } from '../../workflows/monitor-model.js';
import { releaseModel } from '../../workflows/release-model.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { releaseTokens } from '../helpers/records.js';
import { services } from '../helpers/services.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;
const SECRET = `whsec-${randomUUID()}`;

interface Delivery {
  id: string;
  type: NotificationEventType;
  /** Why the signature does not verify; undefined when it does. */
  refusal: string | undefined;
  body: WebhookBody;
  at: number;
}

/** A webhook receiver on loopback: keeps every delivery with its signature checked; `listen` and `close` at will. */
class Receiver {
  readonly deliveries: Delivery[] = [];
  private server: Server | undefined;
  constructor(public port = 0) {}

  async listen(): Promise<this> {
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const header = (name: string) => req.headers[name] as string | undefined;
        this.deliveries.push({
          id: header('x-cairn-delivery')!,
          type: header('x-cairn-event') as NotificationEventType,
          refusal: verifyWebhook(
            SECRET,
            { signature: header('x-cairn-signature'), timestamp: header('x-cairn-timestamp') },
            raw
          ),
          body: JSON.parse(raw) as WebhookBody,
          at: Date.now(),
        });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  of(type: NotificationEventType): Delivery[] {
    return this.deliveries.filter((d) => d.type === type);
  }
}

/** A port nothing listens on (yet): connections to it are refused. */
async function freePort(): Promise<number> {
  const r = await new Receiver().listen();
  await r.close();
  return r.port;
}

/** The test services, with one webhook subscribed to every event at `port`. */
function notifying(port: number): ActivityDeps {
  return {
    ...deps,
    notifications: {
      webhooks: [
        { name: 'test', url: `http://127.0.0.1:${port}/hook`, events: [...NOTIFICATION_EVENTS], secret: SECRET },
      ],
      links: { console: 'http://127.0.0.1:8090', temporal: 'http://127.0.0.1:8233/namespaces/default' },
    },
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Real workers (the bundled workflows, real activities but `wrap`'s) on `taskQueue` and its `-train` queue, until
 * `stop()`: a test can stop them and start others on the same queues, as a restarted worker would.
 */
async function startWorkers(d: ActivityDeps, taskQueue: string, wrap: (a: Activities) => Activities) {
  const s = services();
  const connection = await NativeConnection.connect({ address: s.temporalAddress });
  const activities = wrap(createActivities(d));
  const workers = await Promise.all(
    [taskQueue, `${taskQueue}-train`].map((queue) =>
      Worker.create({
        connection,
        namespace: s.namespace,
        taskQueue: queue,
        workflowBundle: { codePath: s.workflowBundlePath },
        activities,
      })
    )
  );
  const running = workers.map((w) => w.run());
  return {
    async stop() {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
      await connection.close();
    },
  };
}

/**
 * A monitor whose checks are scripted (the drift statistics have tests of their own): check `seq` is an alert when
 * `alerts` has it, else quiet. `checked` collects the seqs checked.
 */
function scriptedMonitor(alerts: Set<number>, checked: number[]) {
  return (a: Activities): Activities => ({
    ...a,
    monitorSetup: async () => ({ pipeline: 'penguins', interval: '1h', retrain: 'never' as const }),
    monitorCheck: async (c) => {
      checked.push(c.seq);
      const alert = alerts.has(c.seq);
      return {
        deployed: true,
        reportId: 1000 + c.seq,
        version: 1,
        status: alert ? 'alert' : 'ok',
        reason: alert ? `data drift in Island (check ${c.seq})` : 'no drift',
      };
    },
  });
}

const childIdOf = (eventId: string) => `notify-${eventId}`;

describe('webhook notifications', () => {
  it('a receiver gets exactly one signed alert per alert, keyed on the execution chain through continue-as-new', async () => {
    const receiver = await new Receiver().listen();
    const model = `notify-${randomUUID().slice(0, 8)}`;
    const checked: number[] = [];
    const taskQueue = `test-${randomUUID()}`;
    const workers = await startWorkers(
      notifying(receiver.port),
      taskQueue,
      scriptedMonitor(new Set([1, 3, 4]), checked)
    );
    try {
      const handle = await ctx.client.workflow.start(monitorModel, {
        taskQueue,
        workflowId: `monitor-${model}-production`,
        args: [{ model, interval: '1s', checksPerRun: 2 }],
      });
      await until('six checks', () => (checked.length >= 6 ? true : undefined));
      const firstRun = handle.firstExecutionRunId;
      await until('three alerts', () => (receiver.of('alert').length >= 3 ? true : undefined));
      await handle.terminate('test over');
      // Time for a duplicate to show up, were there one.
      await new Promise((r) => setTimeout(r, 2000));
      expect((await handle.describe()).runId).not.toBe(firstRun);

      const alerts = receiver.of('alert');
      expect(alerts.map((d) => d.id).sort()).toEqual(
        [1, 3, 4].map((seq) => `monitor-${model}-production@${firstRun}:alert:${seq}`).sort()
      );
      expect(receiver.deliveries).toHaveLength(3);
      for (const d of alerts) {
        expect(d.refusal).toBeUndefined();
        const seq = d.body.event.seq!;
        expect(d.body.event).toMatchObject({
          type: 'alert',
          id: d.id,
          model,
          environment: 'production',
          version: 1,
          reportId: 1000 + seq,
          summary: `data drift in Island (check ${seq})`,
        });
        expect(d.body.text).toBe(`Monitoring alert: ${model}@1 in production: data drift in Island (check ${seq})`);
        expect(d.body.event.links.console).toBe(
          `http://127.0.0.1:8090/monitoring/${model}/production?report=${1000 + seq}`
        );
      }
    } finally {
      await workers.stop();
      await receiver.close();
    }
  });

  it('one approval-pending message per release, then promoted; a failed run says so', async () => {
    const receiver = await new Receiver().listen();
    const model = `notify-${randomUUID().slice(0, 8)}`;
    const { rita, alice } = await releaseTokens(deps.db, model);
    await withWorker(notifying(receiver.port), async (taskQueue) => {
      const trained = await ctx.client.workflow.execute(trainingPipeline, {
        taskQueue,
        workflowId: `notify-train-${randomUUID()}`,
        args: [{ pipeline: 'penguins', model, config: { rounds: 10 } }],
      });
      const version = trained.model.version!;
      const start = (environment: string) =>
        ctx.client.workflow.start(releaseModel, {
          taskQueue,
          workflowId: `release-${model}-v${version}-${environment}`,
          args: [{ model, version, environment, first: true, monitor: false, token: rita }],
        });
      const releases = [await start('production'), await start('staging')];
      for (const r of releases)
        await until(`${r.workflowId} waiting`, async () =>
          (await r.query(statusQuery)).stage === 'awaiting-approval' ? true : undefined
        );
      await until('two approval-pending messages', () =>
        receiver.of('approval_pending').length >= 2 ? true : undefined
      );
      await releases[0]!.signal(approveSignal, { token: alice });
      await releases[1]!.signal(rejectSignal, { token: alice, reason: 'not now' });
      expect((await releases[0]!.result()).status).toBe('promoted');
      expect((await releases[1]!.result()).status).toBe('rejected');
      await until('the promoted message', () => (receiver.of('promoted').length ? true : undefined));

      const failed = await ctx.client.workflow.start(trainingPipeline, {
        taskQueue,
        workflowId: `notify-bad-${randomUUID()}`,
        args: [{ pipeline: 'penguins', model, config: { source: '/nonexistent/penguins.json' } }],
      });
      await failed.result().catch(() => undefined);
      const [runFailed] = await until('the run-failed message', () =>
        receiver.of('run_failed').length ? receiver.of('run_failed') : undefined
      );
      await new Promise((r) => setTimeout(r, 2000));

      const pending = receiver.of('approval_pending');
      expect(pending.map((d) => d.body.event.workflowId).sort()).toEqual(releases.map((r) => r.workflowId).sort());
      for (const [i, r] of releases.entries()) {
        const d = pending.find((p) => p.body.event.workflowId === r.workflowId)!;
        expect(d.refusal).toBeUndefined();
        expect(d.id).toBe(`${r.workflowId}@${r.firstExecutionRunId}:approval_pending`);
        expect(d.body.event).toMatchObject({
          model,
          version,
          environment: ['production', 'staging'][i],
          approveWith: `cairn approve ${r.workflowId}`,
        });
        expect(d.body.event.links.console).toBe(`http://127.0.0.1:8090/releases/${r.workflowId}`);
      }
      const [promoted] = receiver.of('promoted');
      expect(promoted!.body.event).toMatchObject({ workflowId: releases[0]!.workflowId, environment: 'production' });
      expect(promoted!.body.event.summary).toBe(`${model}@${version} serves production`);
      expect(runFailed!.refusal).toBeUndefined();
      expect(runFailed!.body.event).toMatchObject({
        type: 'run_failed',
        workflowId: failed.workflowId,
        pipeline: 'penguins',
      });
      expect(runFailed!.body.event.summary).toMatch(/nonexistent/);
      // Exactly these four messages: nothing for the rejection, nothing twice.
      expect(receiver.deliveries.map((d) => d.type).sort()).toEqual(
        ['approval_pending', 'approval_pending', 'promoted', 'run_failed'].sort()
      );
      expect(new Set(receiver.deliveries.map((d) => d.id)).size).toBe(receiver.deliveries.length);
    });
    await receiver.close();
  }, 120_000);

  it('a receiver down for 20 s, across a worker restart, gets the alert once it is back, once', async () => {
    const port = await freePort();
    const model = `notify-${randomUUID().slice(0, 8)}`;
    const checked: number[] = [];
    const taskQueue = `test-${randomUUID()}`;
    const wrap = scriptedMonitor(new Set([1]), checked);
    let workers = await startWorkers(notifying(port), taskQueue, wrap);
    const receiver = new Receiver(port);
    try {
      const handle = await ctx.client.workflow.start(monitorModel, {
        taskQueue,
        workflowId: `monitor-${model}-production`,
        args: [{ model, interval: '1s' }],
      });
      const eventId = `monitor-${model}-production@${handle.firstExecutionRunId}:alert:1`;
      const delivery = ctx.client.workflow.getHandle(childIdOf(eventId));
      const down = Date.now();
      // The delivery retries on refused connections while the monitor goes on checking: nothing waits for it.
      const failing = await until('a refused attempt', async () => {
        const pending = (await delivery.describe().catch(() => undefined))?.raw.pendingActivities?.[0];
        return pending && (pending.attempt ?? 0) >= 3 ? pending : undefined;
      });
      expect(failing.lastFailure?.message).toMatch(/ECONNREFUSED/);
      await until('more checks', () => (checked.length >= 4 ? true : undefined));
      expect((await delivery.describe()).status.name).toBe('RUNNING');

      // The worker restarts while the receiver is still down.
      await workers.stop();
      workers = await startWorkers(notifying(port), taskQueue, wrap);

      await new Promise((r) => setTimeout(r, Math.max(0, down + 20_000 - Date.now())));
      expect(receiver.deliveries).toHaveLength(0);
      await receiver.listen();
      const back = Date.now();
      await until('the delivery', () => (receiver.deliveries.length ? true : undefined), 45_000);
      expect(await delivery.result()).toEqual({ delivered: ['test'] });
      await handle.terminate('test over');
      await new Promise((r) => setTimeout(r, 2000));

      expect(receiver.deliveries).toHaveLength(1);
      const [d] = receiver.deliveries;
      expect(d!.id).toBe(eventId);
      expect(d!.refusal).toBeUndefined();
      // Backoff is capped at 30 s: a receiver back hears within that.
      expect(d!.at - back).toBeLessThan(31_000);
      expect(d!.body.event).toMatchObject({ type: 'alert', seq: 1, model });
    } finally {
      await workers.stop();
      await receiver.close();
    }
  }, 150_000);
});
