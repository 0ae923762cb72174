import { problemResponse } from '../problems.ts';

/** The problem responses every notifications route documents. */
export const commonProblems = {
  400: problemResponse('The request is not valid'),
  401: problemResponse('Missing or invalid API key'),
  503: problemResponse('The dispatcher cannot take the request now; see Retry-After'),
  504: problemResponse('No dispatcher answered in time; see Retry-After'),
};

/** The headers of a rate-limited route's answers (rate-limit.ts); its budget counts notifications. */
export const rateHeaders = {
  'retry-after': { type: 'integer', minimum: 1, description: 'Whole seconds to wait before retrying' },
  'ratelimit-limit': { type: 'integer', description: 'Notifications this API key may send at once (PUSHFLOW_RATE_LIMIT_BURST)' },
  'ratelimit-remaining': { type: 'integer', description: 'Notifications it may send now' },
  'ratelimit-reset': { type: 'integer', description: 'Seconds until the request would pass, or until the full burst is back' },
};
