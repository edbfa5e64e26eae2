// Line charts with uPlot: training curves, curves of several runs overlaid, metrics over model versions.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];
const SVG = 'http://www.w3.org/2000/svg';

export interface Series {
  label: string;
  /** [x, y] points, x ascending. */
  points: Array<[number, number]>;
}

/**
 * A chart of one or more series over a shared x axis (the union of their x values; a series has a gap where it has
 * no point). The container carries `data-series` (how many lines) for tests and screen readers.
 */
export function lineChart(
  title: string,
  xLabel: string,
  series: Series[],
  options: { width?: number; x?: 'whole' | 'time' | 'real' } = {}
) {
  const x = options.x ?? 'whole';
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
      // x: rounds and versions (whole numbers), times (seconds since the epoch) or any value.
      // One point: a range around it (uPlot's own would span years of a time axis).
      scales: {
        x: {
          time: x === 'time',
          ...(xs.length === 1
            ? { range: [xs[0]! - (x === 'time' ? 3600 : 1), xs[0]! + (x === 'time' ? 3600 : 1)] }
            : {}),
        },
      },
      axes: [{ label: xLabel, ...(x === 'whole' ? { incrs: WHOLE_STEPS } : {}) }, { size: 64 }],
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

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Counts as shares of `total` (by default their sum), for bar charts. */
export function shares(counts: number[], total = counts.reduce((a, b) => a + b, 0)): number[] {
  return counts.map((c) => c / Math.max(1, total));
}

/**
 * Grouped bars: one group per label, one bar per series (values are shares, 0..1). Plain SVG; every bar has a
 * title with its value. The figure carries `data-series` and `data-bars` (groups) for tests.
 */
export function barChart(
  title: string,
  labels: string[],
  series: { label: string; values: number[] }[],
  attrs: Record<string, string> = {}
): HTMLElement {
  const width = 560;
  const height = 240;
  const pad = { left: 44, right: 8, top: 8, bottom: 64 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const group = plotW / Math.max(1, labels.length);
  const bar = (group * 0.8) / series.length;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  for (const tick of [0, 0.5, 1]) {
    const y = pad.top + plotH * (1 - tick);
    chart.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y, y2: y, stroke: '#e3e7ec' }));
    chart.append(
      svg(
        'text',
        { x: pad.left - 4, y: y + 4, 'text-anchor': 'end', 'font-size': 10 },
        `${Math.round(tick * max * 100)}%`
      )
    );
  }
  labels.forEach((label, i) => {
    const x0 = pad.left + i * group + group * 0.1;
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0;
      const h = (plotH * v) / max;
      const rect = svg('rect', {
        x: x0 + j * bar,
        y: pad.top + plotH - h,
        width: Math.max(1, bar - 1),
        height: h,
        fill: COLORS[j % COLORS.length]!,
      });
      rect.append(svg('title', {}, `${s.label} ${label}: ${(v * 100).toFixed(1)}%`));
      chart.append(rect);
    });
    if (labels.length <= 40) {
      const x = x0 + group * 0.4;
      const y = pad.top + plotH + 10;
      chart.append(
        svg('text', { x, y, 'font-size': 10, 'text-anchor': 'end', transform: `rotate(-45 ${x} ${y})` }, label)
      );
    }
  });
  const legend = h(
    'div',
    { class: 'legend' },
    ...series.map((s, j) => h('span', {}, h('i', { style: `background:${COLORS[j % COLORS.length]}` }), s.label))
  );
  const box = h(
    'figure',
    { class: 'chart bars', 'data-series': series.length, 'data-bars': labels.length, 'aria-label': title, ...attrs },
    h('figcaption', {}, title)
  );
  box.append(chart, legend);
  return box;
}
