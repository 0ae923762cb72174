import { checkData, type ContentLimits, type NotificationContent } from '@pushflow/shared';
import { HttpProblem } from './problems.ts';

/**
 * The rules on `data` the schema cannot state (see data-rules.ts), as a 400 like the
 * schema's. `at` is the JSON Pointer of the notification in the request (`/body` for POST
 * /notifications, `/body/notifications/3` in a batch), so the error names the field the
 * way the validator would.
 */
export function contentCheck(limits: ContentLimits) {
  const rules = { maxBytes: limits.dataBytes, maxDepth: limits.dataDepth };
  return function dataProblem(content: NotificationContent, at: string): HttpProblem | undefined {
    if (content.data === undefined) return undefined;
    const broken = checkData(content.data, rules);
    if (!broken) return undefined;
    const path = `${at}/data${broken.path}`;
    return new HttpProblem('validation-failed', `${path.slice(1)} ${broken.message}`, { errors: [{ path, message: broken.message }] });
  };
}
