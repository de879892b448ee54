/**
 * The picture saved next to a run's summary: an HTML page with inline SVG bar charts of the latency
 * histograms (ack, start, connect) on logarithmic bins, the percentiles marked, and the summary as a
 * table. No scripts, no external files: it opens anywhere.
 */
import { LatencyHistogram, type HistogramData } from './histogram.js';

const EDGES_MS = [1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 2000, 5000, 10000];

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function chart(title: string, data: HistogramData): string {
  const h = LatencyHistogram.from([data]);
  if (h.count === 0) return `<h2>${escape(title)}</h2><p>no samples</p>`;
  const bins = h.binned(EDGES_MS);
  const labels = [`<${EDGES_MS[0]}`, ...EDGES_MS.slice(1).map((e, i) => `${EDGES_MS[i]}–${e}`), `≥${EDGES_MS.at(-1)}`];
  const width = 900;
  const height = 260;
  const left = 60;
  const bottom = 60;
  const barW = (width - left - 10) / bins.length;
  const top = Math.max(...bins);
  const y = (n: number) => (height - bottom) * (1 - n / top);
  const bars = bins
    .map((n, i) => {
      const x = left + i * barW;
      const label = `<text x="${x + barW / 2}" y="${height - bottom + 14}" font-size="10" text-anchor="end" transform="rotate(-40 ${x + barW / 2} ${height - bottom + 14})">${escape(labels[i]!)}</text>`;
      const count = n ? `<text x="${x + barW / 2}" y="${y(n) - 3}" font-size="9" text-anchor="middle">${n}</text>` : '';
      return `<rect x="${x + 1}" y="${y(n)}" width="${barW - 2}" height="${height - bottom - y(n)}" fill="#4a78b5"><title>${escape(labels[i]!)} ms: ${n}</title></rect>${count}${label}`;
    })
    .join('');
  const s = h.summary();
  const marks = (['p50', 'p95', 'p99'] as const)
    .map((p) => {
      const v = s[p];
      let i = EDGES_MS.findIndex((e) => v <= e);
      if (i < 0) i = EDGES_MS.length;
      const lo = i === 0 ? 0 : EDGES_MS[i - 1]!;
      const hi = EDGES_MS[i] ?? lo * 2;
      const x = left + (i + Math.min(1, Math.max(0, (v - lo) / (hi - lo)))) * barW;
      return `<line x1="${x}" x2="${x}" y1="0" y2="${height - bottom}" stroke="#c33" stroke-dasharray="4 3"/><text x="${x + 3}" y="12" font-size="11" fill="#c33">${p} ${v} ms</text>`;
    })
    .join('');
  return `<h2>${escape(title)}</h2>
<p>${s.count} samples: p50 ${s.p50} ms, p95 ${s.p95} ms, p99 ${s.p99} ms, max ${s.max} ms, mean ${s.mean} ms</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 20}" viewBox="0 0 ${width} ${height + 20}" font-family="sans-serif">
<line x1="${left}" x2="${width}" y1="${height - bottom}" y2="${height - bottom}" stroke="#333"/>
<text x="10" y="${(height - bottom) / 2}" font-size="11" transform="rotate(-90 20 ${(height - bottom) / 2})">count</text>
<text x="${width / 2}" y="${height + 15}" font-size="11" text-anchor="middle">latency (ms), logarithmic bins</text>
${bars}${marks}
</svg>`;
}

function table(value: unknown, prefix = ''): string {
  if (value === null || typeof value !== 'object') return `<tr><th>${escape(prefix)}</th><td>${escape(String(value))}</td></tr>`;
  return Object.entries(value)
    .map(([k, v]) => table(v, prefix ? `${prefix}.${k}` : k))
    .join('');
}

export function renderReport(title: string, histograms: Record<string, HistogramData>, summary: object): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}th{font-weight:normal;color:#555}</style>
</head><body>
<h1>${escape(title)}</h1>
${Object.entries(histograms)
  .map(([name, data]) => chart(name, data))
  .join('\n')}
<h2>Summary</h2>
<table>${table(summary)}</table>
</body></html>
`;
}
