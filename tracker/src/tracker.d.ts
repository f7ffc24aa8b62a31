// Types of the Trackhouse browser tracker (src/tracker.js). The Kitbase names (TrackOptions,
// TrackResponse, the error classes) follow Kitbase's SDK documentation.

export interface TrackOptions {
  channel: string;
  event: string;
  user_id?: string;
  icon?: string;
  notify?: boolean;
  description?: string;
  tags?: Record<string, unknown>;
}

export interface TrackResponse {
  /** the stored event's id (UUID) */
  id: string;
  event: string;
  /** ISO 8601 */
  timestamp: string;
}

export interface RevenueOptions {
  amount: number;
  currency: string;
  orderId?: string;
  productId?: string;
  tags?: Record<string, unknown>;
  event?: string;
  user_id?: string;
}

/** AnalyticsKit's EventData */
export interface EventData {
  eventType: 'info' | 'error' | 'success';
  id: string;
  longDescription?: string;
  source: 'general' | 'auth' | 'db' | 'analytics' | 'iap' | 'notif' | 'aikit' | (string & {});
  relevancy?: 'low' | 'medium' | 'high';
}

export interface Options {
  /** Kitbase's name for `key`: the write key */
  sdkKey?: string;
  key?: string;
  /** Kitbase's name for `host`: the edge's origin (default: the page's) */
  baseUrl?: string;
  host?: string;
  /** each track() is its own request, a Promise<TrackResponse> (default: true with sdkKey) */
  immediate?: boolean;
  /** ms per request; past it: TimeoutError (default 30000) */
  timeout?: number;
  /** batched events not delivered (default: console.warn) */
  onError?: (error: KitbaseError, events: object[]) => void;
  eventPrefix?: string;
  autoPageviews?: boolean;
  autoTrack?: boolean;
  respectDoNotTrack?: boolean;
  batchSize?: number;
  flushInterval?: number;
  maxRetries?: number;
  retryBase?: number;
  retryMax?: number;
  cookieDomain?: string;
}

/** Immediate trackers answer TrackResponse (null when Do-Not-Track/GPC disable tracking),
 * batching ones the queued event's message id (null when disabled). */
type Tracked = Promise<TrackResponse | null> | string | null;

export interface Tracker {
  readonly version: string;
  readonly immediate: boolean;
  readonly enabled: boolean;
  track(options: TrackOptions): Tracked;
  track(event: string, properties?: Record<string, unknown>, options?: Partial<TrackOptions>): Tracked;
  trackRevenue(revenue: RevenueOptions): Tracked;
  captureEvent(args: { data: EventData; fromUserID?: string }): Promise<TrackResponse | string | null>;
  page(): void;
  identify(userId: string, traits?: Record<string, unknown>): string | null;
  reset(): void;
  /** sends what is queued; true when everything (queued and in flight) was delivered */
  flush(): Promise<boolean>;
  timeEvent(eventName: string): void;
  cancelTimeEvent(eventName: string): void;
  getTimedEvents(): string[];
  getEventDuration(eventName: string): number | null;
  register(properties: Record<string, unknown>): void;
  registerOnce(properties: Record<string, unknown>): void;
  unregister(key: string): void;
  getSuperProperties(): Record<string, unknown>;
  clearSuperProperties(): void;
  getVisitorId(): string | null;
  getUserId(): string | null;
  destroy(): void;
}

/** An immediate tracker (Kitbase's): track() is a Promise<TrackResponse>. */
export interface KitbaseTracker extends Tracker {
  track(options: TrackOptions): Promise<TrackResponse>;
  track(event: string, properties?: Record<string, unknown>, options?: Partial<TrackOptions>): Promise<TrackResponse>;
  trackRevenue(revenue: RevenueOptions): Promise<TrackResponse>;
  captureEvent(args: { data: EventData; fromUserID?: string }): Promise<TrackResponse>;
}

export class KitbaseError extends Error {}
export { KitbaseError as TrackhouseError };
export class TimeoutError extends KitbaseError {}
export class ApiError extends KitbaseError {
  statusCode?: number;
  response?: unknown;
}
export class AuthenticationError extends ApiError {}
export class ValidationError extends ApiError {
  field?: string;
}

export function init(options: Options & { sdkKey: string; key?: undefined; immediate?: true }): KitbaseTracker;
export function init(options: Options): Tracker;
export function createTracker(options: Options & { sdkKey: string; key?: undefined; immediate?: true }): KitbaseTracker;
export function createTracker(options: Options): Tracker;
export function privacySignal(): boolean;

export const track: Tracker['track'];
export const page: Tracker['page'];
export const identify: Tracker['identify'];
export const reset: Tracker['reset'];
export const flush: Tracker['flush'];
export const trackRevenue: Tracker['trackRevenue'];
export const captureEvent: Tracker['captureEvent'];
export const timeEvent: Tracker['timeEvent'];
export const cancelTimeEvent: Tracker['cancelTimeEvent'];
export const getTimedEvents: Tracker['getTimedEvents'];
export const getEventDuration: Tracker['getEventDuration'];
export const register: Tracker['register'];
export const registerOnce: Tracker['registerOnce'];
export const unregister: Tracker['unregister'];
export const getSuperProperties: Tracker['getSuperProperties'];
export const clearSuperProperties: Tracker['clearSuperProperties'];
export const getVisitorId: Tracker['getVisitorId'];
export const getUserId: Tracker['getUserId'];
