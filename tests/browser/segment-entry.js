// The page's copy of Segment's analytics.js as an app bundles it from npm (esbuild, one file).
import { AnalyticsBrowser } from '@segment/analytics-next'

window.AnalyticsBrowser = AnalyticsBrowser
