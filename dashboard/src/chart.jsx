// The time series (uPlot): the current period and, dashed, the period it is compared with.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const DAY = 86400;
const DAYS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 61 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];
const day = uPlot.fmtDate('{MMM} {D}');

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function Chart({ xs, current, previous, label, format, hourly }) {
  const box = useRef(null);
  useEffect(() => {
    const element = box.current;
    const stamp = uPlot.fmtDate(hourly ? '{MMM} {D}, {HH}:{mm}' : '{MMM} {D}, {YYYY}');
    const series = [
      { value: (_u, ts) => (ts == null ? '' : stamp(uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'))) },
      { label, stroke: css('--accent'), width: 2, fill: css('--accent-soft'), value: (_u, v) => format(v) },
    ];
    const data = [xs, current];
    if (previous) {
      series.push({ label: 'Compared', stroke: css('--muted'), width: 1.5, dash: [6, 4], value: (_u, v) => format(v) });
      data.push(previous);
    }
    const axis = { stroke: css('--muted'), grid: { stroke: css('--grid') }, ticks: { stroke: css('--grid') } };
    const plot = new uPlot(
      {
        width: element.clientWidth || 600,
        height: 240,
        series,
        axes: [
          hourly ? { ...axis } : { ...axis, space: 70, incrs: DAYS, values: (_u, ticks) => ticks.map((t) => day(uPlot.tzDate(new Date(t * 1e3), 'Etc/UTC'))) },
          { ...axis, size: 56, values: (_u, ticks) => ticks.map(format) },
        ],
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        legend: { show: true },
        cursor: { points: { size: 6 } },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      },
      data,
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: 240 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [xs, current, previous, label]);
  return <div class="chart" ref={box} role="img" aria-label={`${label} over time`} />;
}
