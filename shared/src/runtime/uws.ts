/**
 * uWebSockets.js, loaded with the request header limit of Node's HTTP server (16 KiB)
 * instead of its own 4 KiB, under which a browser that sends a few cookies with a request
 * or a WebSocket upgrade gets a 431. The addon reads UWS_HTTP_MAX_HEADERS_SIZE once, when it
 * loads, so the services load it through this module only (`@pushflow/shared/uws`); an
 * operator's own value wins.
 */
const NODE_MAX_HEADERS_BYTES = 16_384;

process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(NODE_MAX_HEADERS_BYTES);
const { default: uWS } = await import('uWebSockets.js');

export default uWS;
