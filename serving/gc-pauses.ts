import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { PerformanceEntry } from 'node:perf_hooks';

/** One garbage collection that paused this thread. */
export interface GcPause {
  /** Milliseconds the collection took on this thread. */
  ms: number;
  kind: 'minor' | 'major' | 'incremental' | 'weakcb' | 'other';
}

/** The distribution of pauses over some stretch of time. */
export interface GcPauseSummary {
  count: number;
  totalMs: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Count and total milliseconds per kind of collection. */
  byKind: Record<string, { count: number; totalMs: number }>;
}

const KINDS: Record<number, GcPause['kind']> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * Records this thread's garbage-collection pauses (PerformanceObserver 'gc' entries) from now on. The serving
 * benchmark's server processes run one and report what they saw during each run; `take` returns the pauses since
 * the last take (entries still queued in the observer included) and starts over.
 */
export function recordGcPauses(): { take(): GcPause[]; stop(): void } {
  let pauses: GcPause[] = [];
  const add = (entries: PerformanceEntry[]) => {
    for (const e of entries) {
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      pauses.push({ ms: e.duration, kind: (kind !== undefined && KINDS[kind]) || 'other' });
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    take() {
      add(observer.takeRecords());
      const taken = pauses;
      pauses = [];
      return taken;
    },
    stop() {
      observer.disconnect();
    },
  };
}

/** Count, total, p50/p99/max and per-kind totals of some pauses. */
export function summarizeGcPauses(pauses: readonly GcPause[]): GcPauseSummary {
  const sorted = pauses.map((p) => p.ms).sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]! : null;
  const byKind: GcPauseSummary['byKind'] = {};
  for (const p of pauses) {
    const k = (byKind[p.kind] ??= { count: 0, totalMs: 0 });
    k.count++;
    k.totalMs += p.ms;
  }
  return {
    count: sorted.length,
    totalMs: sorted.reduce((a, b) => a + b, 0),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : null,
    byKind,
  };
}
