import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { CairnConfig } from '../config/index.js';
import { dataConverterOf } from './codec.js';

type TemporalSettings = Pick<CairnConfig, 'temporal'>;

function connectionOptions({ temporal }: TemporalSettings) {
  return { address: temporal.address, tls: temporal.tls || undefined, apiKey: temporal.apiKey };
}

/** A client for starting, signalling and querying workflows. Close `client.connection` when done. */
export async function connectClient(config: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(config), connectTimeout: '5s' });
  const dataConverter = dataConverterOf(config);
  return new Client({ connection, namespace: config.temporal.namespace, ...(dataConverter ? { dataConverter } : {}) });
}

/** The native connection a Worker polls through. */
export function connectWorker(config: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}
