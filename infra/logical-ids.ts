/**
 * Sub-constructs that do not move their resources: the logical ids of everything a grouping
 * construct holds stay those it had as a direct child of the parent.
 *
 * SkiffCluster was one construct; its parts moved into sub-constructs (State, ControlPlane, ...).
 * A logical id comes from the construct path, so each move would have replaced the resource on the
 * next deployment: the state table and buckets losing their data, the load balancer and the API
 * their DNS names, every host its instance. Some resources cannot even be replaced in place:
 * CloudFormation creates the new one before deleting the old, and a second identical security
 * group rule or a second stream mapping of the same function is refused. So the groups are made
 * transparent to logical ids, the way CDK's `Default` id is, but for any number of groups.
 *
 * Two things make up a legacy id: the path without the groups, and the construct ids that embed
 * another construct's unique id (a security group rule is named `from <peer unique id>:<ports>`,
 * a stream mapping `DynamoDBEventSource:<table unique id>`, a permission after its rule or route):
 * those embedded ids are rewritten to the peer's legacy unique id too.
 */
import { CfnElement, Names, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { IConstruct } from 'constructs';

/**
 * Gives every CloudFormation element under `scope` the logical id it would have if the `groups`
 * (children of `scope`) were not in its path. Call it once every resource exists (last in the
 * constructor); elements added later get ids from their real path. An element whose logical id
 * was overridden already keeps it.
 */
export function hideFromLogicalIds(scope: Construct, groups: readonly Construct[]): void {
  for (const group of groups) {
    if (group.node.scope !== scope)
      throw new Error(`${group.node.path} is not a child of ${scope.node.path}: only direct children can be hidden from logical ids`);
  }
  const hidden = new Set<IConstruct>(groups);
  const visible = (c: IConstruct) => !hidden.has(c);
  const elements = scope.node.findAll().filter((c): c is CfnElement => CfnElement.isCfnElement(c));

  // Construct ids that embed the unique id (Names.uniqueId: the path below the app) of a construct
  // in a group get that construct's unique id as it was before the groups; longest first so that
  // no id is rewritten inside a longer one.
  const ids = [...new Set(elements.flatMap((e) => e.node.scopes.map((s) => s.node.id)))];
  const rewrites = groups
    .flatMap((group) => group.node.findAll())
    .map((c) => [Names.uniqueId(c), c] as const)
    .filter(([now]) => ids.some((id) => id !== now && id.includes(now)))
    .map(
      ([now, c]) =>
        [
          now,
          uniqueIdOf(
            c.node.scopes
              .slice(1)
              .filter(visible)
              .map((s) => s.node.id),
          ),
        ] as const,
    )
    .sort(([a], [b]) => b.length - a.length);
  const legacy = (id: string) => rewrites.reduce((text, [now, before]) => (text.includes(now) ? text.split(now).join(before) : text), id);

  for (const element of elements) {
    const own = Stack.of(element);
    const scopes = element.node.scopes;
    const belowStack = scopes.slice(scopes.indexOf(own) + 1);
    const path = belowStack.filter(visible).map((s) => legacy(s.node.id));
    if (path.length === belowStack.length && path.every((id, i) => id === belowStack[i]!.node.id)) continue;
    const allocated = own.getLogicalId(element);
    if (own.resolve(element.logicalId) !== allocated) continue; // overridden on purpose
    const before = uniqueIdOf(path);
    if (before !== allocated) element.overrideLogicalId(before);
  }
}

/**
 * CDK's unique id of a path (what Stack.allocateLogicalId gives for the path below the stack, and
 * Names.uniqueId for the path below the app), computed on a detached construct tree so that the
 * same public algorithm is used rather than a copy of it.
 */
function uniqueIdOf(path: readonly string[]): string {
  let node = new Construct(undefined as unknown as Construct, '');
  for (const id of path) node = new Construct(node, id);
  return Names.uniqueId(node);
}
