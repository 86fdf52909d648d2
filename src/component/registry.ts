/** The one registry of component types. Built-ins are listed in builtins.ts, one line each. */
import { ScopeError } from '../util/errors.js';
import { builtinFactories } from './builtins.js';
import type { ComponentFactory, ComponentKind } from './types.js';

const KIND_NAME = /^[a-z][a-z0-9_]*$/;

export class ComponentRegistry {
  private readonly factories = new Map<string, ComponentFactory>();

  constructor(factories: readonly ComponentFactory[] = []) {
    for (const f of factories) this.register(f);
  }

  register(factory: ComponentFactory): void {
    if (!factory || typeof factory.create !== 'function' || typeof factory.type !== 'string') {
      throw new ScopeError('COMPONENT_INVALID', 'a component factory needs type, kind, configSchema and create()');
    }
    if (!KIND_NAME.test(factory.type)) {
      throw new ScopeError('COMPONENT_INVALID', `component type "${factory.type}" must be lower_snake_case`);
    }
    if (!['receiver', 'processor', 'exporter', 'extension'].includes(factory.kind)) {
      throw new ScopeError('COMPONENT_INVALID', `component ${factory.type}: kind must be receiver, processor, exporter or extension`);
    }
    const key = `${factory.kind}:${factory.type}`;
    if (this.factories.has(key)) throw new ScopeError('COMPONENT_DUPLICATE', `${factory.kind} type "${factory.type}" is already registered`);
    this.factories.set(key, factory);
  }

  get<K extends ComponentKind>(kind: K, type: string): Extract<ComponentFactory, { kind: K }> | undefined {
    return this.factories.get(`${kind}:${type}`) as Extract<ComponentFactory, { kind: K }> | undefined;
  }

  list(kind?: ComponentKind): ComponentFactory[] {
    const all = [...this.factories.values()].filter((f) => !kind || f.kind === kind);
    return all.sort((a, b) => a.kind.localeCompare(b.kind) || a.type.localeCompare(b.type));
  }

  types(kind: ComponentKind): string[] {
    return this.list(kind).map((f) => f.type);
  }
}

/** The process-wide registry that config validation and pipelines use. */
export const registry = new ComponentRegistry(builtinFactories);

/** Adds a component type (library users with their own receivers, processors, exporters). */
export function registerComponent(factory: ComponentFactory): void {
  registry.register(factory);
}
