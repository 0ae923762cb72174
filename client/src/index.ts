/**
 * @pushflow/client: a browser and Node client of PushFlow's delivery nodes. See docs/clients.md.
 * @packageDocumentation
 */
export {
  connect,
  type ConnectOptions,
  type ConnectionState,
  type PushFlowClient,
  type PushFlowEventMap,
  type PushNotification,
  type StateChange,
  type TokenSource,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.ts';
export type { BackoffOptions } from './backoff.ts';
export { PushFlowError, type PushFlowErrorCode } from './errors.ts';
