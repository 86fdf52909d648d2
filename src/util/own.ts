/**
 * Sets a key on a plain object as its own property, whatever the key: an
 * attribute named `__proto__` assigned with `out[key] = value` would set the
 * object's prototype instead and vanish from the data.
 */
export function setOwn<T>(out: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}
