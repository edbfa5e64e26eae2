import type { Queryable } from '../db/pool.js';
import type { MonitoringReport, ReportStatus } from './report.js';

export interface StoredReport {
  id: number;
  monitorId: string;
  seq: number;
  status: ReportStatus;
  retrainId: string | null;
  createdAt: Date;
  report: MonitoringReport;
}

/** The newest reports of a model in an environment, newest first. */
export async function latestReports(
  db: Queryable,
  model: string,
  environment: string,
  limit = 1
): Promise<StoredReport[]> {
  const { rows } = await db.query<StoredReport>(
    `SELECT id, monitor_id AS "monitorId", seq, status, retrain_id AS "retrainId", created_at AS "createdAt", report
     FROM cairn.monitoring_reports WHERE model = $1 AND environment = $2 ORDER BY window_end DESC, id DESC LIMIT $3`,
    [model, environment, limit]
  );
  return rows;
}
