/**
 * The part of the Reflect metadata API that @peculiar/x509's dependency tsyringe needs
 * (`getMetadata`, `getOwnMetadata`, `defineMetadata`, `metadata`), for local/ca.ts. The library
 * asks its users to load a polyfill (reflect-metadata, core-js) before it; none is installed here,
 * and these four functions over a WeakMap are all it uses. Imported for its effect, before
 * @peculiar/x509; it leaves a full polyfill alone if one is already loaded.
 */
type Key = unknown;
type MetadataTarget = object;

const store = new WeakMap<MetadataTarget, Map<string | symbol | undefined, Map<Key, unknown>>>();

function own(target: MetadataTarget, property: string | symbol | undefined, create: boolean): Map<Key, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let values = byProperty.get(property);
  if (!values && create) {
    values = new Map();
    byProperty.set(property, values);
  }
  return values;
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  const defineMetadata = (key: Key, value: unknown, target: MetadataTarget, property?: string | symbol): void => {
    own(target, property, true)!.set(key, value);
  };
  const getOwnMetadata = (key: Key, target: MetadataTarget, property?: string | symbol): unknown => own(target, property, false)?.get(key);
  const getMetadata = (key: Key, target: MetadataTarget, property?: string | symbol): unknown => {
    // Inherited metadata: walk the prototype chain, as reflect-metadata does.
    for (let t: MetadataTarget | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      const values = own(t, property, false);
      if (values?.has(key)) return values.get(key);
    }
    return undefined;
  };
  const metadata =
    (key: Key, value: unknown) =>
    (target: MetadataTarget, property?: string | symbol): void =>
      defineMetadata(key, value, target, property);
  Object.assign(R, { defineMetadata, getOwnMetadata, getMetadata, metadata });
}
