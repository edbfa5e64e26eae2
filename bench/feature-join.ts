// Feature join: the point-in-time join of the flight-delays feature views onto 3,000,000 labelled rows, as the
// tabular-features step runs it, against pandas' merge_asof on the same files, in the same run.
//
// Setup (not measured, once per size, kept in <home>/bench/feature-join-<rows>): the flights of flights-3m.parquet,
// with their `arrival` (examples/features/flight-delays.ts withArrival), materialised as the example views
// origin_delays (entity origin; 1h and 24h mean delay, 24h count; TTL 24h) and route_delays (entity origin +
// destination; 7d mean delay and count; TTL 7d) into a local artifact store: Parquet parts by month and a manifest
// each (lib/features/store/offline.ts materializeSnapshot).
//
// Ours, in a fresh process per repetition (the same file run with `child`): reads the labels (the flights themselves,
// all five columns, label time `date`) from flights-3m.parquet with readParquet, then joinSnapshots of both views,
// which copies each part out of the store (verifying its digest), reads it back, orders the rows by (entity, time)
// and joins them (pointInTimeJoin). Timed from the first read to the joined table. Peak RSS is the process's high-water
// mark (VmHWM on Linux, not maxRSS: see peakRssMiB), Node and the imported modules (the example views import 'cairn')
// included: `baseline` is what it was before the first read.
//
// Peer (pandas + pyarrow, one thread, a fresh python per repetition): reads the same labels file and the same part
// files (straight from the store's directory: no copy, no digest check) with pyarrow into DataFrames, then per view
// sorts the label keys and the feature rows by time (stable) and runs pd.merge_asof(by=entities, on the time,
// direction='backward', tolerance=TTL, allow_exact_matches=True), fills what has no value with the view's default
// (0) like Cairn, and puts the joined columns back in the labels' row order, next to the labels' columns. Timed from
// the first read to that DataFrame (interpreter start and imports not included, as ours); peak RSS likewise (VmHWM,
// else ru_maxrss), Python, numpy, pandas and pyarrow included. Not in the peer: the store's copy and digest check,
// the Table's per-column missing masks, the `asOf`/`missing` columns pointInTimeJoin also computes.
//
// Correctness (not timed): on 4,000 rows spread over the labels, every joined feature of ours equals the peer's
// (beyond 1e-9 relative the benchmark fails). Target (the feature store issue's acceptance): ours peak RSS < 1.5 GiB.
// BENCH_REPS (default 5, medians), BENCH_ROWS (default 3,000,000); --smoke: 1 repetition on the first 50,000
// flights. The peer's virtualenv is bench/requirements.txt's (bench/python-peers.ts), built with pip once.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashFile } from '../lib/artifacts/digest.js';
import { LocalArtifactStore } from '../lib/artifacts/local-store.js';
import { readParquet } from '../lib/data/read-parquet.js';
import { joinSnapshots, materializeSnapshot } from '../lib/features/store/offline.js';
import type { FeatureSnapshot } from '../lib/features/store/offline.js';
import type { FeatureView } from '../lib/features/store/view.js';
import { runMain } from '../lib/process/main.js';
import { originDelays, routeDelays, withArrival } from '../examples/features/flight-delays.js';
import { interleave, report, sized, stats } from './harness.js';
import type { Sample } from './harness.js';

const REPS = sized('BENCH_REPS', 5, 1);
const ROWS = sized('BENCH_ROWS', 3_000_000, 50_000);
const SELF = fileURLToPath(import.meta.url);
const FLIGHTS = 'npm:vega-datasets/data/flights-3m.parquet';
const VIEWS: FeatureView[] = [originDelays, routeDelays];
/** The labels' time column: a flight's departure. */
const AT = 'date';
const TARGET_MIB = 1536;
/** Label rows whose joined values are compared with the peer's. */
const CHECKED_ROWS = 4000;

/** What both sides read: written by the setup, read by our child and the peer. */
interface JoinSpec {
  labels: { path: string; rows: number };
  at: string;
  /** The local store's directory (ours opens it as a LocalArtifactStore). */
  store: string;
  views: {
    name: string;
    entities: string[];
    ttlMs: number;
    features: { name: string; default: number }[];
    /** The snapshot's manifest (ours) and its parts' files in the store (the peer). */
    snapshot: FeatureSnapshot;
    parts: string[];
  }[];
  /** Label rows compared between the two sides. */
  sample: number[];
}

interface JoinSample extends Sample {
  peakRssMiB: number;
  /** Peak RSS before the first read: the runtime and the imported modules. */
  baselineMiB: number;
  /** The joined features at the sample rows. */
  values: Record<string, number[]>;
  version?: string;
}

// The peer, run as `python feature-join-peer.py <spec.json>`; prints one JSON line.
const PEER_SCRIPT = `# The pandas peer of bench/feature-join.ts (written there): merge_asof of the views' snapshot parts onto the labels.
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def peak_rss_mib() -> float:
    # VmHWM, not ru_maxrss: that starts at the parent's RSS at the spawn (see peakRssMiB in feature-join.ts).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    baseline = peak_rss_mib()
    started = time.perf_counter()

    rows = spec["labels"]["rows"]
    file = pq.ParquetFile(spec["labels"]["path"])
    if rows >= file.metadata.num_rows:
        table = file.read(use_threads=False)
    else:
        groups, covered = [], 0
        while covered < rows:
            covered += file.metadata.row_group(len(groups)).num_rows
            groups.append(len(groups))
        table = file.read_row_groups(groups, use_threads=False).slice(0, rows)
    labels = table.to_pandas()
    del table
    n = len(labels)
    at = labels[spec["at"]]

    for view in spec["views"]:
        entities = view["entities"]
        names = [f["name"] for f in view["features"]]
        parts = pa.concat_tables([pq.read_table(p, use_threads=False) for p in view["parts"]])
        features = parts.to_pandas()
        del parts
        event_time = features["event_time"]
        if event_time.dt.tz is not None:
            event_time = event_time.dt.tz_convert(None)
        features["event_time"] = event_time.astype(at.dtype)
        features = features.sort_values("event_time", kind="stable")
        left = labels[entities].copy()
        left["_t"] = at
        left["_row"] = np.arange(n)
        left = left.sort_values("_t", kind="stable")
        joined = pd.merge_asof(
            left,
            features,
            left_on="_t",
            right_on="event_time",
            by=entities,
            direction="backward",
            tolerance=pd.Timedelta(milliseconds=view["ttlMs"]),
            allow_exact_matches=True,
        )
        order = joined["_row"].to_numpy()
        for f in view["features"]:
            column = np.empty(n)
            column[order] = joined[f["name"]].to_numpy(dtype=np.float64, na_value=np.nan)
            np.nan_to_num(column, copy=False, nan=f["default"])
            labels[f["name"]] = column
        del joined, left, features

    ms = (time.perf_counter() - started) * 1000
    peak = peak_rss_mib()
    sample = spec["sample"]
    values = {
        f["name"]: labels[f["name"]].to_numpy()[sample].tolist() for view in spec["views"] for f in view["features"]
    }
    version = f"pandas {pd.__version__}, pyarrow {pa.__version__}"
    print(json.dumps({"ms": ms, "peakRssMiB": peak, "baselineMiB": baseline, "values": values, "version": version}))


if __name__ == "__main__":
    main()
`;

/**
 * This process's peak RSS in MiB: VmHWM of /proc/self/status where there is one (Linux), else maxRSS. Not maxRSS on
 * Linux: a spawned process's maxRSS starts at its parent's RSS at the spawn (the kernel carries the forked copy's
 * high-water mark over the exec), so a child of a parent holding 1.5 GiB reports at least 1.5 GiB; VmHWM belongs to
 * the new program's own memory.
 */
function peakRssMiB(): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) / 1024;
  } catch {
    // Not Linux.
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** `child <spec.json>`: ours, in this process; prints one JSON line. */
async function child(specPath: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as JoinSpec;
  const store = new LocalArtifactStore(spec.store);
  const byName = new Map(VIEWS.map((v) => [v.name, v]));
  const joins = spec.views.map((v) => ({ view: byName.get(v.name)!, at: spec.at, snapshot: v.snapshot }));
  const baselineMiB = peakRssMiB();
  const started = performance.now();
  const labels = await readParquet(spec.labels.path, { limit: spec.labels.rows });
  const joined = await joinSnapshots(store, labels, joins);
  const ms = performance.now() - started;
  const peak = peakRssMiB();
  const values: Record<string, number[]> = {};
  for (const v of spec.views) {
    for (const f of v.features) {
      const column = joined.columns[f.name];
      if (column?.type !== 'number') throw new Error(`the joined table has no number column ${f.name}`);
      values[f.name] = spec.sample.map((r) => column.values[r]!);
    }
  }
  const sample: JoinSample = { ms, peakRssMiB: peak, baselineMiB, values };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

const lastLine = (out: string) => JSON.parse(out.trim().split('\n').pop()!) as JoinSample;

function ours(specPath: string): JoinSample {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, 'child', specPath], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return lastLine(out);
}

function peer(python: string, script: string, specPath: string): JoinSample {
  const env = { ...process.env };
  for (const key of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) env[key] = '1';
  const out = execFileSync(python, [script, specPath], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  return lastLine(out);
}

/**
 * Materialises both views over the first `ROWS` flights into a local store under `dir`, unless a previous run left
 * snapshots of the same view definitions there; writes what both sides read (spec.json).
 */
async function setup(
  dir: string,
  flights: string
): Promise<{ specPath: string; spec: JoinSpec; materialised: boolean }> {
  const storeDir = join(dir, 'store');
  const store = new LocalArtifactStore(storeDir);
  const specPath = join(dir, 'spec.json');
  const snapshotsPath = join(dir, 'snapshots.json');
  let snapshots: FeatureSnapshot[] | undefined;
  if (existsSync(snapshotsPath)) {
    const kept = JSON.parse(readFileSync(snapshotsPath, 'utf8')) as FeatureSnapshot[];
    const current =
      kept.length === VIEWS.length &&
      kept.every(
        (s, i) => s.viewDigest === VIEWS[i]!.digest && s.parts.every((p) => existsSync(store.pathOf(p.file.digest)))
      );
    if (current) snapshots = kept;
  }
  const materialised = !snapshots;
  if (!snapshots) {
    process.stdout.write(`materialising ${VIEWS.map((v) => v.name).join(' and ')} over ${ROWS} flights\n`);
    mkdirSync(dir, { recursive: true });
    const { digest, bytes } = await hashFile(flights);
    const events = withArrival(await readParquet(flights, { limit: ROWS }));
    snapshots = [];
    for (const view of VIEWS) {
      const started = performance.now();
      const { snapshot } = await materializeSnapshot(store, view, events, { path: flights, bytes, sha256: digest });
      snapshots.push(snapshot);
      process.stdout.write(
        `  ${view.name}: ${snapshot.rowCount} rows, ${snapshot.entityCount} entities, ${snapshot.parts.length} ` +
          `parts, ${((performance.now() - started) / 1000).toFixed(1)} s\n`
      );
    }
    writeFileSync(snapshotsPath, JSON.stringify(snapshots));
  }
  const labelRows = Math.min(ROWS, snapshots[0]!.rowCount);
  const checked = Math.min(CHECKED_ROWS, labelRows);
  const spec: JoinSpec = {
    labels: { path: flights, rows: labelRows },
    at: AT,
    store: storeDir,
    views: VIEWS.map((view, i) => ({
      name: view.name,
      entities: view.entities,
      ttlMs: view.ttlMs,
      features: view.features.map((f) => ({ name: f.name, default: view.defaults[f.name] ?? 0 })),
      snapshot: snapshots[i]!,
      parts: snapshots[i]!.parts.map((p) => store.pathOf(p.file.digest)),
    })),
    sample: Array.from({ length: checked }, (_, k) => Math.floor((k * labelRows) / checked)),
  };
  writeFileSync(specPath, JSON.stringify(spec));
  return { specPath, spec, materialised };
}

/** Fails unless every sampled value of ours equals the peer's (1e-9 relative); returns how many had a value. */
function checkAgreement(spec: JoinSpec, o: JoinSample, p: JoinSample): { compared: number; withValue: number } {
  const problems: string[] = [];
  let withValue = 0;
  for (const v of spec.views) {
    for (const f of v.features) {
      const a = o.values[f.name];
      const b = p.values[f.name];
      if (!a || !b || a.length !== spec.sample.length || b.length !== spec.sample.length) {
        problems.push(`${f.name}: ${a?.length ?? 'no'} values of ours, ${b?.length ?? 'no'} of the peer`);
        continue;
      }
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== f.default) withValue++;
        if (Math.abs(a[i]! - b[i]!) > 1e-9 * Math.max(1, Math.abs(a[i]!), Math.abs(b[i]!)) || Number.isNaN(b[i]!))
          problems.push(`${f.name} at row ${spec.sample[i]}: ours ${a[i]}, pandas ${b[i]}`);
      }
    }
  }
  if (problems.length) {
    throw new Error(
      `the joined values differ from pandas merge_asof at ${problems.length} places, first: ` +
        problems.slice(0, 10).join('; ')
    );
  }
  return { compared: spec.sample.length, withValue };
}

async function main(): Promise<void> {
  // Imported here, not with the module: our child, whose peak RSS is measured, needs none of what they load (30 MiB).
  const { loadConfig } = await import('../lib/config/index.js');
  const { resolveSourcePath } = await import('../lib/pipeline/run-config.js');
  const { benchPython } = await import('./python-peers.js');
  const { home, pythonEnvs } = loadConfig();
  const python = await benchPython(pythonEnvs!, (line) => process.stdout.write(`${line}\n`));
  const dir = join(home, 'bench', `feature-join-${ROWS}`);
  const { specPath, spec, materialised } = await setup(dir, resolveSourcePath(FLIGHTS));
  const script = join(dir, 'feature-join-peer.py');
  writeFileSync(script, PEER_SCRIPT);
  const rows = spec.labels.rows;
  const featureRows = spec.views.map((v) => `${v.name} ${v.snapshot.rowCount.toLocaleString('en-US')}`).join(', ');
  process.stdout.write(
    `joining ${spec.views.map((v) => v.name).join(' and ')} (feature rows: ${featureRows}) onto ` +
      `${rows.toLocaleString('en-US')} labels${materialised ? '' : ' (snapshots kept from an earlier run)'}\n`
  );

  const results = await interleave(
    { ours: async () => ours(specPath), pandas: async () => peer(python, script, specPath) },
    REPS
  );
  const o = results.ours as JoinSample[];
  const p = results.pandas as JoinSample[];
  const agreement = checkAgreement(spec, o[0]!, p[0]!);

  const rss = (xs: JoinSample[]) => stats(xs.map((x) => x.peakRssMiB));
  const seconds = (xs: JoinSample[]) => stats(xs.map((x) => x.ms / 1000));
  const peak = rss(o);
  const met = peak.max < TARGET_MIB;
  const peerName = `pandas merge_asof (${p[0]!.version ?? 'pandas'}), 1 thread`;
  const what = `${rows.toLocaleString('en-US')} labels x 2 views read + joined`;
  report(
    'feature-join',
    [
      {
        metric: `peak RSS, ${what}`,
        ours: peak,
        peer: rss(p),
        peerName,
        unit: 'MiB',
        ratio: peak.median / rss(p).median,
        ratioMeaning: `memory ours/peer; target ours < ${TARGET_MIB} MiB: ${met ? 'met' : 'missed'}`,
      },
      {
        metric: `wall time, ${what}`,
        ours: seconds(o),
        peer: seconds(p),
        peerName,
        unit: 's',
        ratio: seconds(o).median / seconds(p).median,
        ratioMeaning: 'time ours/peer',
      },
    ],
    {
      labels: rows,
      featureRows: Object.fromEntries(spec.views.map((v) => [v.name, v.snapshot.rowCount])),
      targetMiB: TARGET_MIB,
      targetMet: met,
      baselineMiB: { ours: stats(o.map((x) => x.baselineMiB)), peer: stats(p.map((x) => x.baselineMiB)) },
      checked: agreement,
      peerVersion: p[0]!.version,
    }
  );
  process.stdout.write(
    `joined values agree with pandas on ${agreement.compared} rows (${agreement.withValue} feature values not ` +
      `filled by a default); ours before the first read: ${stats(o.map((x) => x.baselineMiB)).median.toFixed(0)} MiB ` +
      `(pandas ${stats(p.map((x) => x.baselineMiB)).median.toFixed(0)} MiB); peak RSS target ${TARGET_MIB} MiB: ` +
      `${met ? 'met' : 'missed'} (highest of ${o.length} runs ${peak.max.toFixed(0)} MiB)\n`
  );
}

if (process.argv[2] === 'child') runMain('bench', () => child(process.argv[3]!));
else runMain('bench', main);
