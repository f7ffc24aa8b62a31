// Countries shaded by visitors: SVG outlines projected at build time (world-atlas, d3-geo).
import world from './generated/world.json';
import { country, number } from './format.js';

export function WorldMap({ rows, onPick }) {
  const counts = Object.fromEntries(rows.map((r) => [r.dimensions[0], r.metrics[0]]));
  const top = Math.max(1, ...Object.values(counts));
  return (
    <svg class="map" viewBox="0 0 960 470" role="img" aria-label="Visitors by country (map)">
      {Object.entries(world).map(([code, d]) => {
        const n = counts[code] || 0;
        const level = n ? 0.25 + 0.75 * (n / top) : 0;
        return (
          <path
            key={code}
            d={d}
            class={n ? 'land seen' : 'land'}
            style={n ? `fill-opacity:${level.toFixed(2)}` : undefined}
            onClick={n ? () => onPick(code) : undefined}
          >
            <title>{`${country(code)}: ${number(n)} visitors`}</title>
          </path>
        );
      })}
    </svg>
  );
}
