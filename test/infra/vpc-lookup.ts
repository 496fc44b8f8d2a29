/** An existing VPC as CDK's vpc-provider answers for it, given as context so the infra tests synthesize offline (existing-vpc, prefix-network). */
export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const VPC_ID = 'vpc-0123456789abcdef0';
export const LOOKUP_KEY = `vpc-provider:account=${ACCOUNT}:filter.vpc-id=${VPC_ID}:region=${REGION}:returnAsymmetricSubnets=true`;

/** What the vpc-provider answers for a VPC with two private and two public subnets (cx-api VpcContextResponse). */
export function lookupAnswer(vpcCidrBlock = '10.50.0.0/16') {
  return {
    vpcId: VPC_ID,
    vpcCidrBlock,
    ownerAccountId: ACCOUNT,
    availabilityZones: [],
    subnetGroups: [
      {
        name: 'Private',
        type: 'Private',
        subnets: [
          { subnetId: 'subnet-0000000000000000a', cidr: '10.50.0.0/20', availabilityZone: 'eu-west-1a', routeTableId: 'rtb-0000000000000000a' },
          { subnetId: 'subnet-0000000000000000b', cidr: '10.50.16.0/20', availabilityZone: 'eu-west-1b', routeTableId: 'rtb-0000000000000000b' },
        ],
      },
      {
        name: 'Public',
        type: 'Public',
        subnets: [
          { subnetId: 'subnet-0000000000000000c', cidr: '10.50.32.0/24', availabilityZone: 'eu-west-1a', routeTableId: 'rtb-0000000000000000c' },
          { subnetId: 'subnet-0000000000000000d', cidr: '10.50.33.0/24', availabilityZone: 'eu-west-1b', routeTableId: 'rtb-0000000000000000c' },
        ],
      },
    ],
  };
}
