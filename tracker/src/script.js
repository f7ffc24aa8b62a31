// Entry of /t.js: exposes window.trackhouse and, when the script tag carries data-key,
// initialises it: <script src="https://edge.example/t.js" data-key="WRITE_KEY"></script>
// (data-host defaults to the script's own origin; data-event-prefix, data-respect-dnt="false").
// Kitbase's track() contract (each track() sent at once, a Promise<TrackResponse>): data-immediate.
import * as trackhouse from './tracker.js';

const tag = document.currentScript;
if (tag && tag.dataset.key) {
  trackhouse.init({
    key: tag.dataset.key,
    host: tag.dataset.host || new URL(tag.src, location.href).origin,
    eventPrefix: tag.dataset.eventPrefix || '',
    respectDoNotTrack: tag.dataset.respectDnt !== 'false',
    immediate: tag.dataset.immediate !== undefined,
  });
}

window.trackhouse = trackhouse;
