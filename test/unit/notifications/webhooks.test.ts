import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig } from '../../../lib/config/index.js';
import { notificationId } from '../../../lib/notifications/events.js';
import type { NotificationEvent } from '../../../lib/notifications/events.js';
import { webhookBody } from '../../../lib/notifications/message.js';
import { signWebhook, verifyWebhook } from '../../../lib/notifications/signature.js';
import {
  notificationsOf,
  sendWebhook,
  WebhookRejectedError,
  WebhookUnavailableError,
} from '../../../lib/notifications/webhooks.js';
import type { Webhook } from '../../../lib/notifications/webhooks.js';

const links = { console: 'http://127.0.0.1:8090/', temporal: 'http://127.0.0.1:8233/namespaces/default' };
const alert: NotificationEvent = {
  id: notificationId({ workflowId: 'monitor-m-production', firstExecutionRunId: 'run-1' }, 'alert', 3),
  type: 'alert',
  at: '2026-12-01T10:00:00.000Z',
  summary: 'data drift in distance, origin <airport> & more',
  workflowId: 'monitor-m-production',
  model: 'm',
  version: 2,
  environment: 'production',
  reportId: 41,
  seq: 3,
};

describe('webhook signatures', () => {
  it('are the HMAC-SHA256 of "<timestamp>.<body>", as openssl computes it', () => {
    // printf '%s' '1700000000.{"text":"hi"}' | openssl dgst -sha256 -hmac whsec-test
    expect(signWebhook('whsec-test', 1_700_000_000, '{"text":"hi"}')).toBe(
      'sha256=1f107e4d7b14c74215c90ad8b70fb6786d29356a18a467d6e6cb10bc9e798545'
    );
  });

  it('verify a genuine delivery and refuse a changed body, another secret, an old timestamp, a missing header', () => {
    const body = JSON.stringify(webhookBody(alert, links));
    const now = 1_700_000_000;
    const signature = signWebhook('s3cret', now, body);
    const headers = { signature, timestamp: String(now) };
    expect(verifyWebhook('s3cret', headers, body, { now: now + 10 })).toBeUndefined();
    expect(verifyWebhook('s3cret', headers, body.replace('drift', 'drifT'), { now })).toBe('signature mismatch');
    expect(verifyWebhook('other', headers, body, { now })).toBe('signature mismatch');
    expect(verifyWebhook('s3cret', headers, body, { now: now + 301 })).toBe('timestamp outside the tolerance');
    expect(verifyWebhook('s3cret', { timestamp: String(now) }, body, { now })).toBe('missing signature or timestamp');
    // The timestamp is signed too: a delivery replayed with a fresh timestamp does not verify.
    expect(verifyWebhook('s3cret', { signature, timestamp: String(now + 60) }, body, { now: now + 60 })).toBe(
      'signature mismatch'
    );
  });
});

describe('webhook bodies', () => {
  it('are Slack messages (text, blocks with a console link) carrying the event for machines', () => {
    const body = webhookBody(alert, links);
    expect(body.text).toBe('Monitoring alert: m@2 in production: data drift in distance, origin <airport> & more');
    const [section, context, actions] = body.blocks as {
      type: string;
      text?: { type: string; text: string };
      elements?: { url?: string; text: unknown }[];
    }[];
    expect(section).toEqual({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: ':rotating_light: *Monitoring alert*: m@2 in production\ndata drift in distance, origin &lt;airport&gt; &amp; more',
      },
    });
    expect(context!.type).toBe('context');
    expect(actions!.elements!.map((e) => e.url)).toEqual([
      'http://127.0.0.1:8090/monitoring/m/production?report=41',
      'http://127.0.0.1:8233/namespaces/default/workflows/monitor-m-production',
    ]);
    expect(body.event).toEqual({
      ...alert,
      links: {
        console: 'http://127.0.0.1:8090/monitoring/m/production?report=41',
        temporal: 'http://127.0.0.1:8233/namespaces/default/workflows/monitor-m-production',
      },
    });
    expect(body.event.id).toBe('monitor-m-production@run-1:alert:3');
  });

  it('link each event to its page, say how to approve, and stay within Slack limits', () => {
    const pending = webhookBody(
      {
        id: 'release-m-v2-production@r:approval_pending',
        type: 'approval_pending',
        at: alert.at,
        summary: 'x'.repeat(5000),
        workflowId: 'release-m-v2-production',
        model: 'm',
        version: 2,
        environment: 'production',
        approveWith: 'cairn approve release-m-v2-production',
      },
      links
    );
    expect(pending.event.links.console).toBe('http://127.0.0.1:8090/releases/release-m-v2-production');
    const section = (pending.blocks[0] as { text: { text: string } }).text.text;
    expect(section.length).toBeLessThanOrEqual(3000);
    expect(pending.text.length).toBeLessThanOrEqual(3000);
    const failed = webhookBody(
      {
        id: 'run-p@r:run_failed',
        type: 'run_failed',
        at: alert.at,
        summary: 'validation failed',
        workflowId: 'run-p',
        pipeline: 'penguins',
        runId: 'run-p/r',
        stage: 'validate',
      },
      links
    );
    expect(failed.text).toBe('Run failed: pipeline penguins at validate (run run-p/r): validation failed');
    expect(failed.event.links.console).toBe('http://127.0.0.1:8090/runs/run-p%2Fr');
  });
});

describe('sendWebhook', () => {
  let status = 200;
  const received: { headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(status).end(status === 200 ? 'ok' : 'nope');
    });
  });
  let hook: Webhook;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    hook = { name: 'ops', url: `http://127.0.0.1:${port}/hook`, events: ['alert'], secret: 'k' };
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('posts the signed body with its delivery id', async () => {
    status = 200;
    expect(await sendWebhook(hook, alert, links, { now: 1_700_000_000_000 })).toEqual({ status: 200 });
    const { headers, body } = received.at(-1)!;
    expect(headers['x-cairn-delivery']).toBe(alert.id);
    expect(headers['x-cairn-event']).toBe('alert');
    expect(headers['x-cairn-timestamp']).toBe('1700000000');
    expect(headers['x-cairn-signature']).toBe(signWebhook('k', 1_700_000_000, body));
    expect(JSON.parse(body)).toEqual(webhookBody(alert, links));
  });

  it('retries 5xx, 408 and 429 and a refused connection; gives up at once on other 4xx', async () => {
    for (const s of [500, 503, 408, 429]) {
      status = s;
      await expect(sendWebhook(hook, alert, links)).rejects.toThrow(WebhookUnavailableError);
    }
    for (const s of [400, 401, 404, 410]) {
      status = s;
      const err = await sendWebhook(hook, alert, links).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhookRejectedError);
      expect((err as WebhookRejectedError).message).toBe(`webhook ops answered ${s}: nope`);
      expect((err as WebhookRejectedError).retryable).toBe(false);
    }
    // A port nothing listens on: one the system just gave out and took back.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = { ...hook, url: `http://127.0.0.1:${port}/hook` };
    await expect(sendWebhook(down, alert, links)).rejects.toThrow(/^webhook ops: ECONNREFUSED$/);
  });
});

describe('notifications config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-notify-'));
  const yaml = (body: string) => {
    writeFileSync(join(dir, 'cairn.yaml'), body);
    return () => loadConfig({ env: {}, cwd: dir });
  };

  it('reads webhooks from cairn.yaml, their secrets from files under home', () => {
    writeFileSync(join(dir, 'ops-secret'), 'whsec-1\n');
    const config = yaml(
      [
        `home: ${dir}`,
        'console: { url: "https://cairn.example.com" }',
        'notifications:',
        '  webhooks:',
        '    - { name: ops, url: "https://hooks.example.com/x", secretFile: ops-secret }',
        '    - { name: approvals, url: "http://127.0.0.1:9000/", events: [approval_pending], secretFile: ops-secret }',
      ].join('\n')
    )();
    expect(config.notifications.webhooks[0]).toEqual({
      name: 'ops',
      url: 'https://hooks.example.com/x',
      events: ['alert', 'run_failed', 'approval_pending', 'promoted', 'rolled_back'],
      secretFile: join(dir, 'ops-secret'),
    });
    const n = notificationsOf(config);
    expect(n.webhooks.map((w) => [w.name, w.secret, w.events.length])).toEqual([
      ['ops', 'whsec-1', 5],
      ['approvals', 'whsec-1', 1],
    ]);
    expect(n.links.console).toBe('https://cairn.example.com');
    // `cairn config` shows where a webhook goes, not its path (a Slack webhook's path is its credential).
    expect(redactConfig(config).notifications.webhooks.map((w) => w.url)).toEqual([
      'https://hooks.example.com/[redacted]',
      'http://127.0.0.1:9000/[redacted]',
    ]);
    expect(loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'cairn-notify-')) }).notifications.webhooks).toEqual(
      []
    );
  });

  it('names the key of a bad webhook', () => {
    const head = 'notifications:\n  webhooks:\n';
    const bad = (hook: string) => yaml(head + hook);
    expect(bad('    - { name: ops, url: "https://x.example", events: [deployed], secretFile: s }')).toThrow(
      /notifications\.webhooks\.0\.events\.0/
    );
    expect(bad('    - { name: ops, url: "https://x.example" }')).toThrow(/notifications\.webhooks\.0\.secretFile/);
    expect(
      bad(
        '    - { name: ops, url: "https://x.example", secretFile: s }\n    - { name: ops, url: "https://y.example", secretFile: s }'
      )
    ).toThrow(/webhook names must be unique/);
    const missing = yaml(`home: ${dir}\n${head}    - { name: ops, url: "https://x.example", secretFile: nowhere }`)();
    expect(() => notificationsOf(missing)).toThrow(ConfigError);
    expect(() => notificationsOf(missing)).toThrow(/notifications\.webhooks\[0\]\.secretFile: cannot read .*nowhere/);
  });
});
