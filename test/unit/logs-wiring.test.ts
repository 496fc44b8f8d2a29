import { describe, expect, it } from 'vitest';
import { apiHandlerFromEnv } from '../../app/handlers/api.ts';
import { ENV } from '../../app/env-names.ts';

const base = { [ENV.cluster]: 'prod', [ENV.table]: 'skiff-prod', AWS_REGION: 'eu-west-1' };

describe("the API's log groups from the environment", () => {
  it('builds with the cluster group and the control functions groups', () => {
    expect(() =>
      apiHandlerFromEnv({
        ...base,
        [ENV.logGroup]: '/skiff/prod',
        [ENV.controlLogGroups]: JSON.stringify({ api: '/aws/lambda/api', scheduler: '/aws/lambda/s' }),
      }),
    ).not.toThrow();
    expect(() => apiHandlerFromEnv(base)).not.toThrow();
  });

  it('refuses control log groups that are not an object of names, naming the variable', () => {
    expect(() => apiHandlerFromEnv({ ...base, [ENV.logGroup]: '/skiff/prod', [ENV.controlLogGroups]: 'api=/x' })).toThrow(
      /SKIFF_CONTROL_LOG_GROUPS is not JSON/,
    );
    expect(() => apiHandlerFromEnv({ ...base, [ENV.logGroup]: '/skiff/prod', [ENV.controlLogGroups]: '["/x"]' })).toThrow(
      /SKIFF_CONTROL_LOG_GROUPS must be a JSON object/,
    );
    expect(() => apiHandlerFromEnv({ ...base, [ENV.logGroup]: '/skiff/prod', [ENV.controlLogGroups]: '{"api": 3}' })).toThrow(
      /SKIFF_CONTROL_LOG_GROUPS must be a JSON object/,
    );
  });
});
