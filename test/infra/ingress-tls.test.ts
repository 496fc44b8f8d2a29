/**
 * SkiffIngress with TLS: the HTTPS listener on 443 with its certificate and TLS policy, port 80
 * redirecting to it, and a certificate the stack requests with DNS validation in a public zone.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, Vpc } from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { SkiffIngress, type SkiffIngressProps } from '../../infra/ingress.ts';

const ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';

function synth(props: Partial<SkiffIngressProps>): { template: Template; ingress: SkiffIngress } {
  const stack = new Stack(new App(), 'Test');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const ingress = new SkiffIngress(stack, 'Ingress', {
    clusterName: 'test',
    vpc,
    hostSecurityGroup: new SecurityGroup(stack, 'Hosts', { vpc }),
    dnsZoneName: 'skiff.internal',
    loadBalancerScheme: 'internet-facing',
    ...props,
  });
  return { template: Template.fromStack(stack), ingress };
}

describe('SkiffIngress with a certificate', () => {
  it('serves HTTPS on 443 with the certificate and a TLS 1.3/1.2 policy, and redirects port 80 to it', () => {
    const { template, ingress } = synth({ certificateArn: ARN });
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: ARN }],
      SslPolicy: Match.stringLikeRegexp('^ELBSecurityPolicy-TLS13-'),
      DefaultActions: [Match.objectLike({ Type: 'fixed-response' })],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }],
    });
    // The scheduler's rules go on the HTTPS listener, and it knows tls routes can be served.
    expect(Stack.of(ingress).resolve(ingress.schedulerEnvironment.SKIFF_ALB_LISTENER_ARN)).toEqual(Stack.of(ingress).resolve(ingress.listener.listenerArn));
    expect(ingress.schedulerEnvironment.SKIFF_ALB_HTTPS).toBe('true');
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Skiff load balancer'),
      SecurityGroupIngress: Match.arrayWith([
        Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 }),
        Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 80, ToPort: 80 }),
      ]),
    });
  });

  it('requests a certificate validated by DNS in the public zone named, and serves it on the HTTPS listener', () => {
    const { template, ingress } = synth({
      certificate: {
        domainNames: ['shop.example.com', '*.shop.example.com'],
        publicHostedZoneId: 'Z0123456789ABCDEFGHIJ',
        publicHostedZoneName: 'example.com',
      },
    });
    template.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'shop.example.com',
      SubjectAlternativeNames: ['*.shop.example.com'],
      ValidationMethod: 'DNS',
      DomainValidationOptions: Match.arrayWith([{ DomainName: 'shop.example.com', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }]),
    });
    const certId = Object.keys(template.findResources('AWS::CertificateManager::Certificate'))[0];
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Certificates: [{ CertificateArn: { Ref: certId } }] });
    expect(ingress.redirectListener).toBeDefined();
  });

  it('refuses both kinds of certificate at once, and names outside the public zone', () => {
    const certificate = { domainNames: ['shop.example.com'], publicHostedZoneId: 'Z0123456789ABCDEFGHIJ', publicHostedZoneName: 'example.com' };
    expect(() => synth({ certificateArn: ARN, certificate })).toThrow(
      'give certificateArn (an existing ACM certificate) or certificate (one the stack requests), not both',
    );
    expect(() => synth({ certificate: { ...certificate, domainNames: ['shop.example.org'] } })).toThrow(
      'certificate name shop.example.org is not in the public hosted zone example.com',
    );
  });
});

describe('SkiffIngress without a certificate', () => {
  it('serves plain HTTP on 80 only, and tells the scheduler tls routes cannot be served', () => {
    const { template, ingress } = synth({});
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    expect(ingress.schedulerEnvironment.SKIFF_ALB_HTTPS).toBe('false');
  });
});
