// Line charts with uPlot: training curves, curves of several runs overlaid, metrics over model versions.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

export interface Series {
  label: string;
  /** [x, y] points, x ascending. */
  points: Array<[number, number]>;
}

/**
 * A chart of one or more series over a shared x axis (the union of their x values; a series has a gap where it has
 * no point). The container carries `data-series` (how many lines) for tests and screen readers.
 */
export function lineChart(title: string, xLabel: string, series: Series[], options: { width?: number } = {}) {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const columns = series.map((s) => {
    const at = new Map(s.points);
    return xs.map((x) => at.get(x) ?? null);
  });
  const box = h(
    'figure',
    { class: 'chart', 'data-series': series.length, 'aria-label': title },
    h('figcaption', {}, title)
  );
  new uPlot(
    {
      width: options.width ?? 520,
      height: 260,
      scales: { x: { time: false } },
      // x is a round or a version: whole numbers only.
      axes: [{ label: xLabel, incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000] }, {}],
      legend: { live: false },
      series: [
        { label: xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
          points: { show: s.points.length <= 30 },
        })),
      ],
    },
    [xs, ...columns] as uPlot.AlignedData,
    box
  );
  return box;
}
