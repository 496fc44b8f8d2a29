/**
 * SkiffApi: the HTTP API in front of the API function, with two ways in (issue 14):
 * - programs and operators sign with SigV4 (IAM authorization, service execute-api) on every path
 *   but `/user/...`: who may call is decided by IAM policies, which can scope by path since writes
 *   name their namespace in it (`/v1/namespaces/shop/*`); the function maps the principal to roles;
 * - people sign in to a Cognito user pool (`skiff login`) and send its JWT on `/user/...`: an HTTP
 *   API route has one authorizer, so the user routes are a prefix of their own, and the function
 *   strips it (app/handlers/api.ts). Roles come from the user's groups (`skiff:cluster-admin`,
 *   `skiff:<namespace>:<admin|edit|view>`).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { HttpApi, HttpMethod, HttpNoneAuthorizer, type HttpRoute } from 'aws-cdk-lib/aws-apigatewayv2';
import { PUBLIC_ROUTES } from '../app/public-routes.ts';
import { HttpIamAuthorizer, HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccountRecovery, CfnUserPoolGroup, Mfa, UserPool, type UserPoolClient } from 'aws-cdk-lib/aws-cognito';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** The path prefix of the routes that take a Cognito JWT instead of SigV4. */
export const USER_ROUTE_PREFIX = '/user';

export interface SkiffApiProps {
  /** The cluster name, in the API's description. */
  readonly clusterName: string;
  /** The function that serves every path and method. */
  readonly handler: IFunction;
  /**
   * What happens to the user pool (its users, their groups) when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly userPoolRemovalPolicy?: RemovalPolicy;
}

/** One HTTP API whose every request goes to the API function. */
export class SkiffApi extends Construct {
  readonly httpApi: HttpApi;
  /** The people who may sign in (`skiff login`); roles by group. */
  readonly userPool: UserPool;
  /** The CLI's app client: no secret (a CLI cannot keep one), user-password and SRP sign-in, refresh tokens. */
  readonly cliClient: UserPoolClient;
  /** The routes served without authorization (app/public-routes.ts): the OIDC discovery document and the JWKS. */
  readonly publicRoutes: HttpRoute[];

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
    // Public: the OIDC discovery document and the JWKS of workload tokens (app/public-routes.ts
    // PUBLIC_ROUTES), read by verifiers that hold no credential, AWS IAM's OIDC providers among them.
    this.publicRoutes = PUBLIC_ROUTES.flatMap(([, path]) =>
      this.httpApi.addRoutes({ path, methods: [HttpMethod.GET], integration, authorizer: new HttpNoneAuthorizer() }),
    );

    this.userPool = new UserPool(this, 'Users', {
      userPoolName: `skiff-${props.clusterName}`,
      // Accounts are made by an admin (adminCreateUser), never by whoever finds the pool.
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true },
      // These accounts can drive the cluster: a second factor (an authenticator app; no SMS to pay for or intercept).
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      removalPolicy: props.userPoolRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.cliClient = this.userPool.addClient('CliClient', {
      generateSecret: false,
      authFlows: { userPassword: true, userSrp: true },
      preventUserExistenceErrors: true,
    });
    new CfnUserPoolGroup(this, 'ClusterAdmins', {
      userPoolId: this.userPool.userPoolId,
      groupName: 'skiff:cluster-admin',
      description: 'Skiff cluster admins: every namespace, hosts, drains, namespaces and their quotas',
    });
    const userAuthorizer = new HttpUserPoolAuthorizer('UserAuthorizer', this.userPool, { userPoolClients: [this.cliClient] });
    for (const path of [USER_ROUTE_PREFIX, `${USER_ROUTE_PREFIX}/{proxy+}`]) {
      this.httpApi.addRoutes({ path, methods: [HttpMethod.ANY], integration, authorizer: userAuthorizer });
    }
  }
}
