/**
 * SVG charts of the end-to-end results (vega-lite compiled to vega, rendered headless: no browser, no canvas).
 * One chart per case file written by the benchmark (bench/results/e2e/<case>.json).
 *
 * Re-render from a JSON file: node dist-bench/bench/e2e/chart.js bench/results/e2e/pps.json [out.svg]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** What a case file holds (the part the charts read). */
export interface CaseFile {
  case: 'pps' | 'bulk' | 'cps' | 'latency';
  date: string;
  machine: { cpus: number; cpu: string };
  options?: { repeat?: number };
  rows: object[];
}

const WIDTH = 560;

function subtitle(f: CaseFile): string {
  const runs = (f.options?.repeat ?? 1) > 1 && (f.case === 'pps' || f.case === 'cps') ? `median of ${f.options!.repeat} runs` : 'one run';
  return `${f.date.slice(0, 10)}, ${f.machine.cpus} x ${f.machine.cpu}; ${runs}, same test bed`;
}

/** The vega-lite spec of a case file's chart. */
export function chartSpec(f: CaseFile): TopLevelSpec {
  const order = [...new Set((f.rows as { label?: unknown }[]).map((r) => String(r.label)))];
  const y = { field: 'label', type: 'nominal' as const, sort: order, title: null, axis: { labelLimit: 320 } };
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: WIDTH, data: { values: f.rows } };
  switch (f.case) {
    case 'pps':
      return {
        ...base,
        title: { text: '64-byte UDP: delivered packets/s (bars), offered (ticks)', subtitle: subtitle(f) },
        encoding: { y, yOffset: { field: 'flows', type: 'nominal' }, color: { field: 'flows', type: 'nominal', title: 'flows' } },
        layer: [
          { mark: 'bar', encoding: { x: { field: 'delivered_pps', type: 'quantitative', title: 'packets/s' } } },
          { mark: { type: 'tick', color: 'black', thickness: 1 }, encoding: { x: { field: 'offered_pps', type: 'quantitative' } } },
        ],
      } as TopLevelSpec;
    case 'bulk':
      return {
        ...base,
        title: { text: 'Bulk TCP (one iperf3 stream): Gbit/s received', subtitle: subtitle(f) },
        mark: 'bar',
        encoding: { y, x: { field: 'receiver_gbps', type: 'quantitative', title: 'Gbit/s' }, color: { field: 'kind', type: 'nominal' } },
      } as TopLevelSpec;
    case 'cps':
      return {
        ...base,
        title: { text: 'New TCP connections per second (HTTP/1.1, Connection: close)', subtitle: subtitle(f) },
        mark: 'bar',
        encoding: { y, x: { field: 'conns_per_s', type: 'quantitative', title: 'connections/s' }, color: { field: 'kind', type: 'nominal' } },
      } as TopLevelSpec;
    case 'latency':
      return {
        ...base,
        title: { text: 'Round trip at low load (UDP ping-pong, 500/s): µs', subtitle: subtitle(f) },
        transform: [{ fold: ['p50_us', 'p99_us'], as: ['percentile', 'us'] }],
        mark: 'bar',
        encoding: {
          y, yOffset: { field: 'percentile', type: 'nominal' },
          x: { field: 'us', type: 'quantitative', title: 'round trip, µs' },
          color: { field: 'percentile', type: 'nominal' },
        },
      } as TopLevelSpec;
  }
}

/** Renders a case file's chart to an SVG document. */
export async function renderSvg(f: CaseFile): Promise<string> {
  const view = new vega.View(vega.parse(compile(chartSpec(f)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [inFile, outFile] = process.argv.slice(2);
  if (!inFile) {
    console.error('usage: node dist-bench/bench/e2e/chart.js CASE.json [OUT.svg]');
    process.exit(2);
  }
  const svg = await renderSvg(JSON.parse(readFileSync(inFile, 'utf8')) as CaseFile);
  writeFileSync(outFile ?? inFile.replace(/\.json$/, '.svg'), svg);
}
