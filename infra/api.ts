/**
 * SkiffApi: the HTTP API in front of the API function. Every route requires SigV4 (IAM
 * authorization, service execute-api): who may call it is decided by IAM policies on the callers.
 */
import { HttpApi, HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface SkiffApiProps {
  /** The cluster name, in the API's description. */
  readonly clusterName: string;
  /** The function that serves every path and method. */
  readonly handler: IFunction;
}

/** One HTTP API whose every request goes to the API function. */
export class SkiffApi extends Construct {
  readonly httpApi: HttpApi;

  constructor(scope: Construct, id: string, props: SkiffApiProps) {
    super(scope, id);
    this.httpApi = new HttpApi(this, 'Api', {
      description: `Skiff API (cluster ${props.clusterName})`,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    // The API function routes by itself (functions/api): the gateway only forwards.
    const integration = new HttpLambdaIntegration('ApiIntegration', props.handler);
    this.httpApi.addRoutes({ path: '/', methods: [HttpMethod.ANY], integration });
    this.httpApi.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.ANY], integration });
  }
}
