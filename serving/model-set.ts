import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import type { Pool } from '../lib/db/pool.js';
import type { Logger } from '../lib/logging/logger.js';
import type { PackageTrust } from '../lib/signing/packages.js';
import { listDeployments } from '../lib/release/deployments.js';
import type { Deployment } from '../lib/release/deployments.js';
import { pruneReplicas, removeReplica, reportReplica, stagedVersions } from '../lib/release/fleet.js';
import { resolveVersion } from '../lib/registry/models.js';
import { scorerFor } from '../lib/scoring/scorer.js';
import type { Scorer, ServablePackage } from '../lib/scoring/scorer.js';

/** A model version ready to score. */
export interface LoadedModel {
  model: string;
  version: number;
  digest: string;
  scorer: Scorer;
}

/** How one model's traffic is split in this environment. */
export interface ModelRoute {
  model: string;
  revision: number;
  stable: LoadedModel;
  canary?: LoadedModel;
  canaryWeight: number;
}

export interface ModelSetDeps {
  db: Pool;
  store: ArtifactStore;
  logger: Logger;
  /** Packages must be signed by one of these keys to be loaded. */
  trust: PackageTrust;
}

/** A number in [0, 1) from a request key: the same key always lands on the same side of a split. */
export function stickyPoint(key: string): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) / 2 ** 32;
}

/** Replicas silent this long are removed from `cairn.replicas` when a replica starts. */
const FORGET_REPLICAS_AFTER_S = 3600;

/**
 * The models one environment serves, kept in step with the `deployments` table: the online server and the stream
 * consumer share it. A refresh loads any new version (package read and digest-verified by the store) before the
 * route switches to it, so requests never see a half-loaded model; a version that fails to load leaves the old
 * route serving and is retried on the next refresh.
 *
 * Versions a release has staged are loaded too, before any traffic moves to them, and every refresh ends with a
 * heartbeat in `cairn.replicas` (this replica's routes, loaded versions and load errors): a release moves traffic
 * only once every live replica holds the version (see lib/release/fleet.ts).
 */
export class ModelSet {
  private routes = new Map<string, ModelRoute>();
  private loaded = new Map<string, Promise<LoadedModel>>();
  /** `model@version` of the versions whose load finished, and why the others failed. */
  private readonly held = new Set<string>();
  private readonly versionErrors = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  /** Why a deployment revision could not be loaded, by `model#revision`: said once, retried quietly. */
  private readonly failures = new Map<string, string>();
  /** True once the first refresh finished. */
  ready = false;
  /** This process's row in `cairn.replicas`. */
  readonly replicaId: string;

  constructor(
    private readonly deps: ModelSetDeps,
    readonly environment: string,
    readonly kind: 'online' | 'stream'
  ) {
    this.replicaId = `${kind}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  /** Deployments that could not be loaded, and why. */
  loadErrors(): { deployment: string; error: string }[] {
    return [...this.failures].map(([deployment, error]) => ({ deployment, error }));
  }

  get(model: string): ModelRoute | undefined {
    return this.routes.get(model);
  }

  models(): ModelRoute[] {
    return [...this.routes.values()];
  }

  /** The version that serves a request: the canary for its share of traffic, sticky by `key` when one is given. */
  pick(route: ModelRoute, key?: string): LoadedModel {
    if (!route.canary || route.canaryWeight <= 0) return route.stable;
    const point = key === undefined ? Math.random() : stickyPoint(key);
    return point < route.canaryWeight ? route.canary : route.stable;
  }

  /**
   * Looks for deployment changes every `intervalMs`. A failed look keeps the loaded versions serving; it is logged
   * once per outage, not once per poll.
   */
  start(intervalMs: number): void {
    void pruneReplicas(this.deps.db, FORGET_REPLICAS_AFTER_S).catch(() => undefined);
    let failing = false;
    this.timer = setInterval(() => {
      this.refresh().then(
        () => {
          if (failing) this.deps.logger.info('deployments readable again');
          failing = false;
        },
        (err: unknown) => {
          if (!failing)
            this.deps.logger.error({ err }, 'deployments could not be read; serving the versions already loaded');
          failing = true;
        }
      );
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops looking and leaves the fleet (a release no longer waits for this replica). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing?.catch(() => undefined);
    await removeReplica(this.deps.db, this.replicaId).catch((err: unknown) =>
      this.deps.logger.warn({ err, replica: this.replicaId }, 'could not leave the fleet; the row goes stale instead')
    );
  }

  /**
   * Brings the routes in step with the deployments table, one refresh at a time. A call while one runs waits for a
   * fresh one after it (shared by every such caller): the running one may have read the table before the change the
   * caller wants to see.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.queued ??= this.refreshing
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.refresh();
        });
      return this.queued;
    }
    this.refreshing = this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const [deployments, staged] = await Promise.all([
      listDeployments(this.deps.db, { environment: this.environment }),
      stagedVersions(this.deps.db, this.environment),
    ]);
    const next = new Map<string, ModelRoute>();
    await Promise.all(
      deployments.map(async (d) => {
        const current = this.routes.get(d.model);
        if (current?.revision === d.revision) return next.set(d.model, current);
        const key = `${d.model}#${d.revision}`;
        try {
          next.set(d.model, await this.routeOf(d));
          this.failures.delete(key);
          this.deps.logger.info(
            {
              model: d.model,
              revision: d.revision,
              stable: d.stableVersion,
              canary: d.canaryVersion,
              weight: d.canaryWeight,
            },
            'deployment loaded'
          );
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          if (this.failures.get(key) !== why)
            this.deps.logger.error(
              { err, model: d.model, revision: d.revision },
              'deployment failed to load; serving the previous one (retried quietly until it loads)'
            );
          this.failures.set(key, why);
          if (current) next.set(d.model, current);
        }
      })
    );
    this.routes = next;
    const live = new Set(deployments.map((d) => `${d.model}#${d.revision}`));
    for (const key of this.failures.keys()) if (!live.has(key)) this.failures.delete(key);
    this.ready = true;
    // Staged versions are loaded ahead of traffic; a failure is reported in the heartbeat, where the release sees it.
    await Promise.all(
      staged.map((s) => {
        const before = this.versionErrors.get(`${s.model}@${s.version}`);
        return this.load(s.model, s.version).catch((err: unknown) => {
          if (before !== (err as Error).message)
            this.deps.logger.error(
              { err, model: s.model, version: s.version, release: s.releaseId },
              'staged version failed to load; the release waiting for it is told'
            );
        });
      })
    );
    const inUse = new Set([
      ...[...next.values()]
        .flatMap((r) => [r.stable, ...(r.canary ? [r.canary] : [])])
        .map((m) => `${m.model}@${m.version}`),
      ...deployments.flatMap((d) => [d.stableVersion, d.canaryVersion ?? []].flat().map((v) => `${d.model}@${v}`)),
      ...staged.map((s) => `${s.model}@${s.version}`),
    ]);
    for (const key of this.loaded.keys()) if (!inUse.has(key)) this.loaded.delete(key);
    for (const key of this.held) if (!inUse.has(key)) this.held.delete(key);
    for (const key of this.versionErrors.keys()) if (!inUse.has(key)) this.versionErrors.delete(key);
    await this.heartbeat();
  }

  private heartbeat(): Promise<void> {
    return reportReplica(this.deps.db, {
      id: this.replicaId,
      kind: this.kind,
      environment: this.environment,
      host: hostname(),
      pid: process.pid,
      routes: this.models().map((r) => ({
        model: r.model,
        revision: r.revision,
        stable: r.stable.version,
        canary: r.canary?.version ?? null,
        weight: r.canaryWeight,
      })),
      loaded: [...this.held],
      errors: [...this.versionErrors].map(([key, error]) => {
        const at = key.lastIndexOf('@');
        return { model: key.slice(0, at), version: Number(key.slice(at + 1)), error };
      }),
    });
  }

  private async routeOf(d: Deployment): Promise<ModelRoute> {
    const [stable, canary] = await Promise.all([
      this.load(d.model, d.stableVersion),
      d.canaryVersion === null ? undefined : this.load(d.model, d.canaryVersion),
    ]);
    return {
      model: d.model,
      revision: d.revision,
      stable,
      ...(canary ? { canary } : {}),
      canaryWeight: d.canaryWeight,
    };
  }

  private load(model: string, version: number): Promise<LoadedModel> {
    const key = `${model}@${version}`;
    let loading = this.loaded.get(key);
    if (!loading) {
      loading = (async () => {
        const v = await resolveVersion(this.deps.db, { model, version });
        this.deps.trust.check(v);
        const pkg = await this.deps.store.getJson<ServablePackage>(v.packageDigest);
        return { model, version, digest: v.packageDigest, scorer: await scorerFor(pkg) };
      })();
      loading.then(
        () => {
          this.held.add(key);
          this.versionErrors.delete(key);
        },
        (err: unknown) => {
          this.loaded.delete(key);
          this.versionErrors.set(key, err instanceof Error ? err.message : String(err));
        }
      );
      this.loaded.set(key, loading);
    }
    return loading;
  }
}
