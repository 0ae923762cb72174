/** A setting that stops the service: `variable` names the environment variable to fix. */
export class ConfigError extends Error {
  readonly code = 'PUSHFLOW_CONFIG_INVALID';
  readonly variable: string;
  constructor(variable: string, detail: string) {
    super(`${variable}: ${detail}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}
