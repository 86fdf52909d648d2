/** Reading the archive's rows: attribute documents and their values, whatever their JSON shape. */
import type { Attributes } from '../model/types.js';
import type { Row } from './archive_reader.js';

/** A value as text: strings as they are, other values as JSON, absent as null. */
export const text = (v: unknown): string | null => (typeof v === 'string' ? v : v === undefined || v === null ? null : JSON.stringify(v));
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});

/** A row's `attributes` column (selected as VARCHAR) as an object; {} when it is not one. */
export function attributesOf(row: Row): Attributes {
  try {
    return record(JSON.parse(String(row.attributes ?? '{}'))) as Attributes;
  } catch {
    return {};
  }
}
