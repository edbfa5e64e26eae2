// Feature views of the flight-delays example: delays at the origin airport and on the route, computed from the
// flights themselves, as they were known at each departure.
import { defineFeatureView } from 'cairn';
import type { Table } from 'cairn';

const FLIGHTS = { path: 'npm:vega-datasets/data/flights-3m.parquet' };

/**
 * When each flight's arrival delay became known: at its arrival, estimated as departure + 30 min + distance at
 * 8 miles a minute + the delay, and never before a minute after departure. A flight's own delay is therefore never
 * a feature of its own departure.
 */
export function withArrival(flights: Table): Table {
  const date = flights.columns.date;
  const delay = flights.columns.delay;
  const distance = flights.columns.distance;
  if (date?.type !== 'timestamp' || delay?.type !== 'number' || distance?.type !== 'number')
    throw new TypeError('flights need date (timestamp), delay and distance (numbers)');
  const n = flights.rowCount;
  const values = new Float64Array(n);
  const missing = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    missing[i] = date.missing[i]! | delay.missing[i]! | distance.missing[i]!;
    const minutes = Math.max(1, 30 + distance.values[i]! / 8 + delay.values[i]!);
    values[i] = missing[i] ? 0 : date.values[i]! + Math.round(minutes) * 60_000;
  }
  return {
    rowCount: n,
    names: [...flights.names, 'arrival'],
    columns: { ...flights.columns, arrival: { type: 'timestamp', values, missing } },
  };
}

/** Mean arrival delay of the flights that left the origin airport and arrived in the last hour and day. */
export const originDelays = defineFeatureView({
  name: 'origin_delays',
  description: 'Delays of flights out of an airport, known by their arrival',
  source: FLIGHTS,
  prepare: withArrival,
  entities: ['origin'],
  timestamp: 'arrival',
  ttl: '24h',
  features: [
    { name: 'origin_delay_1h', aggregate: 'mean', column: 'delay', window: '1h' },
    { name: 'origin_delay_24h', aggregate: 'mean', column: 'delay', window: '24h' },
    { name: 'origin_flights_24h', aggregate: 'count', window: '24h' },
  ],
});

/** Mean arrival delay on the route (origin to destination) over the last week. */
export const routeDelays = defineFeatureView({
  name: 'route_delays',
  description: 'Delays on a route, known by their arrival',
  source: FLIGHTS,
  prepare: withArrival,
  entities: ['origin', 'destination'],
  timestamp: 'arrival',
  ttl: '7d',
  features: [
    { name: 'route_delay_7d', aggregate: 'mean', column: 'delay', window: '7d' },
    { name: 'route_flights_7d', aggregate: 'count', window: '7d' },
  ],
});
