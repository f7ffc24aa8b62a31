// Entry of /t.js: exposes window.trackhouse and, when the script tag carries data-key,
// initialises it: <script src="https://edge.example/t.js" data-key="WRITE_KEY"></script>
// (data-host defaults to the script's own origin; data-event-prefix, data-respect-dnt="false").
import * as trackhouse from './tracker.js';

const tag = document.currentScript;
if (tag && tag.dataset.key) {
  trackhouse.init({
    key: tag.dataset.key,
    host: tag.dataset.host || new URL(tag.src, location.href).origin,
    eventPrefix: tag.dataset.eventPrefix || '',
    respectDoNotTrack: tag.dataset.respectDnt !== 'false',
  });
}

window.trackhouse = trackhouse;
